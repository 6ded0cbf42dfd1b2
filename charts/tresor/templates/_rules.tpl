{{/*
The alerting rules (the `groups:` of a Prometheus rules file). The PrometheusRule renders them, and
docs/alerts/tresor-rules.yaml is this with the default values (test/integration/chart.test.ts checks both
with promtool). Expressions aggregate `by (namespace, vm, policy)`: every replica exports the same
scrape-time gauges from its caches, so the instance label must not split alerts (ADR 0080).
*/}}
{{- define "tresor.ruleGroups" -}}
{{- $a := .Values.alerts -}}
groups:
  - name: tresor.backups
    rules:
      {{- if $a.backupFailed.enabled }}
      - alert: TresorBackupFailed
        expr: max by (namespace, vm, policy, reason) (tresor_backup_last_job_failed) == 1
        for: {{ $a.backupFailed.for }}
        labels:
          severity: {{ $a.backupFailed.severity }}
        annotations:
          summary: {{`Backup of VM {{ $labels.namespace }}/{{ $labels.vm }} failed ({{ $labels.reason }})`}}
          description: {{`The newest backup job of VirtualMachine {{ $labels.namespace }}/{{ $labels.vm }} under policy "{{ $labels.policy }}" failed with reason {{ $labels.reason }}. The alert resolves when the next backup succeeds. See kubectl -n {{ $labels.namespace }} get tvmb --field-selector spec.vmName={{ $labels.vm }}.`}}
      {{- end }}
      {{- if $a.backupMissing.enabled }}
      {{- $sels := list }}
      {{- range $a.backupMissing.overrides }}{{ $sels = append $sels (include "tresor.overrideSelector" .) }}{{ end }}
      {{- $suspended := "unless on (namespace, policy) (max by (namespace, policy) (tresor_backup_policy_suspended) == 1)" }}
      - alert: TresorBackupMissing
        expr: (time() - ({{ include "tresor.lastSuccessOrSince" "{policy!=\"\"}" }})) > on (namespace, policy) group_left () (max by (namespace, policy) (tresor_backup_policy_max_interval_seconds) + {{ mul (int $a.backupMissing.graceHours) 3600 }}) {{ $suspended }}{{ range $sels }} unless on (namespace, policy) ({{ include "tresor.lastSuccessOrSince" . }}){{ end }}
        for: {{ $a.backupMissing.for }}
        labels:
          severity: {{ $a.backupMissing.severity }}
        annotations:
          summary: {{`No recent successful backup of VM {{ $labels.namespace }}/{{ $labels.vm }}`}}
          description: {{ printf "VirtualMachine {{ $labels.namespace }}/{{ $labels.vm }} (policy \"{{ $labels.policy }}\") has had no successful backup or recovery point for {{ $value | humanizeDuration }}: longer than its schedule leaves between two runs plus %v h. Check the policy's status and the newest jobs." $a.backupMissing.graceHours | quote }}
      {{- range $i, $o := $a.backupMissing.overrides }}
      - alert: TresorBackupMissing
        expr: (time() - ({{ include "tresor.lastSuccessOrSince" (index $sels $i) }})) > {{ mul (int $o.maxAgeHours) 3600 }} {{ $suspended }}
        for: {{ $a.backupMissing.for }}
        labels:
          severity: {{ $a.backupMissing.severity }}
        annotations:
          summary: {{`No recent successful backup of VM {{ $labels.namespace }}/{{ $labels.vm }}`}}
          description: {{ printf "VirtualMachine {{ $labels.namespace }}/{{ $labels.vm }} (policy \"{{ $labels.policy }}\") has had no successful backup or recovery point for {{ $value | humanizeDuration }}: longer than %v h. Check the policy's status and the newest jobs." $o.maxAgeHours | quote }}
      {{- end }}
      {{- end }}
  - name: tresor.operator
    rules:
      {{- if $a.operatorDown.enabled }}
      - alert: TresorOperatorDown
        expr: absent(up{job="{{ include "tresor.scrapeJob" . }}"} == 1)
        for: {{ $a.operatorDown.for }}
        labels:
          severity: {{ $a.operatorDown.severity }}
        annotations:
          summary: No Tresor operator is up
          description: {{ printf "Prometheus has not scraped a healthy Tresor operator (job %s) for %s: no backups are scheduled or run, and the backup alerts see no data." (include "tresor.scrapeJob" .) $a.operatorDown.for | quote }}
      {{- end }}
{{- end }}
