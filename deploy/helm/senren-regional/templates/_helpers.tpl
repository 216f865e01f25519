{{/* Names and labels shared by the templates of senren-regional. */}}

{{- define "senren-regional.labels" -}}
app.kubernetes.io/part-of: senren
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The selector of one daemon's pods: senren-regional or senren-controller. */}}
{{- define "senren-regional.selector" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{/* The namespace of the CRs and the databases. */}}
{{- define "senren-regional.databaseNamespace" -}}
{{- default .Release.Namespace .Values.databaseNamespace.name -}}
{{- end -}}

{{- define "senren-regional.region" -}}
{{- required "region is required (the region key, e.g. aws:us-east-1)" .Values.region -}}
{{- end -}}

{{/* senren-regional's Lease: senren-regional-<region>, ':' as '.', as the plane names it
     (regional/plane: LeaseName). */}}
{{- define "senren-regional.leaseName" -}}
{{- $n := printf "senren-regional-%s" (include "senren-regional.region" . | replace ":" "." | lower) -}}
{{- regexReplaceAll "[^a-z0-9.-]" $n "-" | trunc 253 | trimSuffix "-" | trimSuffix "." -}}
{{- end -}}

{{/* The ConfigMap in which the plane records the version it applied (AppliedRecordName). */}}
{{- define "senren-regional.appliedRecordName" -}}
{{- include "senren-regional.leaseName" . | trunc 245 | trimSuffix "-" | trimSuffix "." -}}-applied
{{- end -}}

{{- define "senren-regional.image" -}}
{{- $tag := default .root.Chart.AppVersion .root.Values.image.tag -}}
{{- if .root.Values.image.registry -}}
{{ .root.Values.image.registry }}/{{ .name }}:{{ $tag }}
{{- else -}}
{{ .name }}:{{ $tag }}
{{- end -}}
{{- end -}}

{{/* Pod and container security: the images' user (65532), nothing else allowed. */}}
{{- define "senren-regional.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "senren-regional.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}

{{/* Liveness and readiness on the daemon's metrics port (daemon/: /healthz, /readyz). A
     standby replica is ready: it waits for the Lease. */}}
{{- define "senren-regional.probes" -}}
startupProbe:
  httpGet: {path: /healthz, port: metrics}
  periodSeconds: 2
  failureThreshold: 30
livenessProbe:
  httpGet: {path: /healthz, port: metrics}
  periodSeconds: 10
  timeoutSeconds: 2
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /readyz, port: metrics}
  periodSeconds: 5
  timeoutSeconds: 2
  failureThreshold: 3
{{- end -}}
