{{/* Names and labels shared by the templates of senren-control-plane. */}}

{{- define "senren-control-plane.labels" -}}
app.kubernetes.io/part-of: senren
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "senren-control-plane.selector" -}}
app.kubernetes.io/name: senren-ledger
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "senren-control-plane.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.registry -}}
{{ .Values.image.registry }}/senren-ledger:{{ $tag }}
{{- else -}}
senren-ledger:{{ $tag }}
{{- end -}}
{{- end -}}

{{- define "senren-control-plane.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "senren-control-plane.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}

{{/* Mounts and volumes of the optional Secrets, shared by the Deployment and the Job. */}}
{{- define "senren-control-plane.secretMounts" -}}
{{- if .Values.postgres.caSecret }}
- {name: postgres-ca, mountPath: /etc/senren/postgres, readOnly: true}
{{- end }}
{{- end -}}

{{- define "senren-control-plane.secretVolumes" -}}
{{- if .Values.postgres.caSecret }}
- name: postgres-ca
  secret: {secretName: {{ .Values.postgres.caSecret }}, defaultMode: 0440}
{{- end }}
{{- end -}}
