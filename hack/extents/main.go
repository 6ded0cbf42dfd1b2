// tresor-extents prints a file's or block device's size and its data extents, found with
// lseek(SEEK_DATA/SEEK_HOLE), in the format operator/src/mover/extents.ts parses: the size on the first
// line, then one "start end" line per data extent; a filesystem without hole support gives one extent
// and the line "nohole". It is the operator image's hole-detection helper (ADR 0100): Node has no
// lseek, and the image has no python3. Built static (CGO_ENABLED=0) by hack/image/build.ts.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"syscall"
)

const (
	seekData = 3 // SEEK_DATA on Linux
	seekHole = 4 // SEEK_HOLE on Linux
)

func layout(path string, w *bufio.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fd := int(f.Fd())
	size, err := syscall.Seek(fd, 0, 2) // SEEK_END also sizes block devices, which stat cannot
	if err != nil {
		return fmt.Errorf("seek to the end of %s: %w", path, err)
	}
	var extents [][2]int64
	for off := int64(0); off < size; {
		start, err := syscall.Seek(fd, off, seekData)
		if errors.Is(err, syscall.ENXIO) {
			break // no data after off: the rest is a hole
		}
		if err != nil {
			fmt.Fprintf(w, "%d\n0 %d\nnohole\n", size, size)
			return nil
		}
		end, err := syscall.Seek(fd, start, seekHole)
		if err != nil {
			fmt.Fprintf(w, "%d\n0 %d\nnohole\n", size, size)
			return nil
		}
		extents = append(extents, [2]int64{start, end})
		off = end
	}
	fmt.Fprintf(w, "%d\n", size)
	for _, e := range extents {
		fmt.Fprintf(w, "%d %d\n", e[0], e[1])
	}
	return nil
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: tresor-extents FILE")
		os.Exit(2)
	}
	w := bufio.NewWriter(os.Stdout)
	if err := layout(os.Args[1], w); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
