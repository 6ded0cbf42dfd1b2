module tresor.local/extents

go 1.25
