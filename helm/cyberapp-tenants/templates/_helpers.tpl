{{/*
Expand the name of the chart.
*/}}
{{- define "cyberapp-tenants.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name.
We truncate at 63 chars because some Kubernetes name fields are limited to this (by the DNS naming spec).
If release name contains chart name it will be used as a full name.
*/}}
{{- define "cyberapp-tenants.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The full name with a suffix, still at most 63 characters: (dict "ctx" $ "suffix" "grpc").
*/}}
{{- define "cyberapp-tenants.suffixedName" -}}
{{- $base := include "cyberapp-tenants.fullname" .ctx | trunc (int (sub 62 (len .suffix))) | trimSuffix "-" }}
{{- printf "%s-%s" $base .suffix }}
{{- end }}

{{/*
Create chart name and version as used by the chart label.
*/}}
{{- define "cyberapp-tenants.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels: the chart's, merged with commonLabels.
*/}}
{{- define "cyberapp-tenants.labels" -}}
{{- include "cyberapp-tenants.mergeLabels" (dict "chart" (include "cyberapp-tenants.chartLabels" .) "user" (list .Values.commonLabels)) }}
{{- end }}
{{- define "cyberapp-tenants.chartLabels" -}}
helm.sh/chart: {{ include "cyberapp-tenants.chart" . }}
{{ include "cyberapp-tenants.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: {{ .Values.config.serviceRole }}
{{- end }}
{{/*
The Deployment's pod labels: the chart's, podLabels, commonLabels.
*/}}
{{- define "cyberapp-tenants.podLabels" -}}
{{- include "cyberapp-tenants.mergeLabels" (dict "chart" (include "cyberapp-tenants.chartLabels" .) "user" (list .Values.podLabels .Values.commonLabels)) }}
{{- end }}

{{/*
Labels the user may not set (commonLabels, podLabels, serviceMonitor.additionalLabels): the selectors and
Helm's ownership rely on them.
*/}}
{{- define "cyberapp-tenants.reservedLabels" -}}
app.kubernetes.io/name,app.kubernetes.io/instance,app.kubernetes.io/managed-by
{{- end }}

{{/*
The chart's labels (YAML text, one `key: value` a line, in its own order) merged with the user's maps
(highest precedence first): every key once, a user's value replacing the chart's (the reserved keys are
refused by the validation). With no user labels the chart's text is unchanged.
(dict "chart" (include ...) "user" (list .Values.podLabels .Values.commonLabels))
*/}}
{{- define "cyberapp-tenants.mergeLabels" -}}
{{- $user := dict }}
{{- range .user }}
{{- $user = merge $user (default (dict) .) }}
{{- end }}
{{- $lines := list }}
{{- range splitList "\n" .chart }}
{{- if and . (not (hasKey $user (trim (first (splitList ":" .))))) }}
{{- $lines = append $lines . }}
{{- end }}
{{- end }}
{{- join "\n" $lines }}
{{- with $user }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Selector labels
*/}}
{{- define "cyberapp-tenants.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cyberapp-tenants.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels of the pods that are not part of the Deployment (migration Job, helm test): a name of their own, so
the Services, the PodDisruptionBudget and the NetworkPolicy never select them.
(dict "ctx" $ "component" "migration")
*/}}
{{- define "cyberapp-tenants.auxLabels" -}}
{{- include "cyberapp-tenants.mergeLabels" (dict "chart" (include "cyberapp-tenants.auxChartLabels" .) "user" (list .ctx.Values.commonLabels)) }}
{{- end }}
{{- define "cyberapp-tenants.auxChartLabels" -}}
helm.sh/chart: {{ include "cyberapp-tenants.chart" .ctx }}
app.kubernetes.io/name: {{ printf "%s-%s" (include "cyberapp-tenants.name" .ctx | trunc 40 | trimSuffix "-") .component }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/part-of: {{ include "cyberapp-tenants.name" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- if .ctx.Chart.AppVersion }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- end }}

{{/*
Create the name of the service account to use
*/}}
{{- define "cyberapp-tenants.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "cyberapp-tenants.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The image to use
*/}}
{{- define "cyberapp-tenants.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
Names of the objects besides the Deployment and the HTTP Service.
*/}}
{{- define "cyberapp-tenants.grpcServiceName" -}}
{{- include "cyberapp-tenants.suffixedName" (dict "ctx" . "suffix" "grpc") }}
{{- end }}
{{- define "cyberapp-tenants.migrationName" -}}
{{- include "cyberapp-tenants.suffixedName" (dict "ctx" . "suffix" "migrate") }}
{{- end }}
{{- define "cyberapp-tenants.dataClaimName" -}}
{{- if .Values.database.sqlite.persistence.existingClaim }}
{{- .Values.database.sqlite.persistence.existingClaim }}
{{- else }}
{{- include "cyberapp-tenants.suffixedName" (dict "ctx" . "suffix" "data") }}
{{- end }}
{{- end }}

{{/*
"true" when this release's pods run the TenantService and so use the database and serve gRPC: every role
but the gateway, which reaches the data only through a TenantService elsewhere (TENANT_SERVICE_URL).
*/}}
{{- define "cyberapp-tenants.usesDatabase" -}}
{{- if ne .Values.config.serviceRole "gateway" }}true{{ end }}
{{- end }}

{{/*
"true" in SQLite mode for a role that uses the database: one pod, a PVC, Recreate.
*/}}
{{- define "cyberapp-tenants.sqlite" -}}
{{- if and (include "cyberapp-tenants.usesDatabase" .) (eq .Values.database.mode "sqlite") }}true{{ end }}
{{- end }}

{{/*
"true" in PostgreSQL mode for a role that uses the database: DATABASE_URL from a Secret, migration hook Job.
*/}}
{{- define "cyberapp-tenants.postgres" -}}
{{- if and (include "cyberapp-tenants.usesDatabase" .) (eq .Values.database.mode "postgres") }}true{{ end }}
{{- end }}

{{/*
"true" when this release's pods run the gateway (every role but tenant-service), which needs
ACGW_ENDPOINT_IDS.
*/}}
{{- define "cyberapp-tenants.runsGateway" -}}
{{- if ne .Values.config.serviceRole "tenant-service" }}true{{ end }}
{{- end }}

{{/*
The Secret the pods read DATABASE_URL / GRPC_AUTH_TOKEN / GRPC_READ_TOKEN from, and its keys.
*/}}
{{- define "cyberapp-tenants.secretName" -}}
{{- default (include "cyberapp-tenants.fullname" .) .Values.existingSecret.name }}
{{- end }}
{{- define "cyberapp-tenants.databaseUrlKey" -}}
{{- if .Values.existingSecret.name }}{{ .Values.existingSecret.databaseUrlKey }}{{ else }}DATABASE_URL{{ end }}
{{- end }}
{{- define "cyberapp-tenants.grpcAuthTokenKey" -}}
{{- if .Values.existingSecret.name }}{{ .Values.existingSecret.grpcAuthTokenKey }}{{ else }}GRPC_AUTH_TOKEN{{ end }}
{{- end }}
{{- define "cyberapp-tenants.grpcReadTokenKey" -}}
{{- if .Values.existingSecret.name }}{{ .Values.existingSecret.grpcReadTokenKey }}{{ else }}GRPC_READ_TOKEN{{ end }}
{{- end }}

{{/*
CUSTOM_CALLBACK_AUTH_TOKEN, only in the roles that run the gateway (the tenant-service role refuses it): "true"
when the pods get it, from customCallbacks.existingSecret.name or from customCallbacks.authToken in the chart's
Secret; then the Secret and its key.
*/}}
{{- define "cyberapp-tenants.hasCustomCallbackAuthToken" -}}
{{- $c := .Values.customCallbacks }}
{{- if and (include "cyberapp-tenants.runsGateway" .) (or $c.existingSecret.name $c.authToken) }}true{{ end }}
{{- end }}
{{- define "cyberapp-tenants.customCallbackAuthTokenSecretName" -}}
{{- default (include "cyberapp-tenants.fullname" .) .Values.customCallbacks.existingSecret.name }}
{{- end }}
{{- define "cyberapp-tenants.customCallbackAuthTokenKey" -}}
{{- if .Values.customCallbacks.existingSecret.name }}{{ .Values.customCallbacks.existingSecret.authTokenKey }}{{ else }}CUSTOM_CALLBACK_AUTH_TOKEN{{ end }}
{{- end }}
{{- /* "true" when the chart's Secret holds CUSTOM_CALLBACK_AUTH_TOKEN (customCallbacks.authToken). */}}
{{- define "cyberapp-tenants.storesCustomCallbackAuthToken" -}}
{{- if and (include "cyberapp-tenants.runsGateway" .) .Values.customCallbacks.authToken (not .Values.customCallbacks.existingSecret.name) }}true{{ end }}
{{- end }}

{{/*
"true" when the chart generates GRPC_AUTH_TOKEN: the pods serve the TenantService on a non-loopback address
(0.0.0.0:50051), which the service refuses without a token, and neither existingSecret.name nor
grpcAuth.token gives one (nor does grpcAuth.allowUnauthenticated waive it). A gateway-role release runs no
TenantService: a token generated there could never match the remote one, so it must be given one.
*/}}
{{- define "cyberapp-tenants.generatesGrpcAuthToken" -}}
{{- $a := .Values.grpcAuth }}
{{- if and (include "cyberapp-tenants.usesDatabase" .) (not .Values.existingSecret.name) (not $a.token) (not $a.allowUnauthenticated) }}true{{ end }}
{{- end }}

{{/*
GRPC_AUTH_TOKEN as the chart's Secret holds it: grpcAuth.token; else (when the chart generates it) the value
already in the release's Secret, read with `lookup` so that `helm upgrade` keeps it; else 48 new random
characters. Computed once per render and remembered in the root context, so every template that includes
this (the Secret itself, and the Deployment's checksum of it) sees the same value; the pods read it from the
Secret (secretKeyRef), never from here. `helm template` and client-side dry runs cannot look anything up, so
they show a fresh random value each time. Empty when there is no token to store.
*/}}
{{- define "cyberapp-tenants.grpcAuthToken" -}}
{{- if .Values.grpcAuth.token }}
{{- .Values.grpcAuth.token }}
{{- else if include "cyberapp-tenants.generatesGrpcAuthToken" . }}
{{- if not (hasKey $ "cyberappTenantsGeneratedGrpcAuthToken") }}
{{- $token := "" }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "cyberapp-tenants.fullname" .) }}
{{- if and $existing $existing.data (hasKey $existing.data "GRPC_AUTH_TOKEN") }}
{{- $token = index $existing.data "GRPC_AUTH_TOKEN" | b64dec }}
{{- end }}
{{- if not $token }}
{{- $token = randAlphaNum 48 }}
{{- end }}
{{- $_ := set $ "cyberappTenantsGeneratedGrpcAuthToken" $token }}
{{- end }}
{{- index $ "cyberappTenantsGeneratedGrpcAuthToken" }}
{{- end }}
{{- end }}

{{/*
"true" when the pods get GRPC_AUTH_TOKEN (from existingSecret.name or the chart's Secret).
*/}}
{{- define "cyberapp-tenants.hasGrpcAuthToken" -}}
{{- if or .Values.existingSecret.name (include "cyberapp-tenants.grpcAuthToken" .) }}true{{ end }}
{{- end }}

{{/*
"true" when the pods get GRPC_READ_TOKEN: only roles that run the TenantService, from grpcAuth.readToken or
(an optional key of) existingSecret.name.
*/}}
{{- define "cyberapp-tenants.hasGrpcReadToken" -}}
{{- if and (include "cyberapp-tenants.usesDatabase" .) (or .Values.existingSecret.name .Values.grpcAuth.readToken) }}true{{ end }}
{{- end }}

{{/*
"true" when the chart itself creates the Secret (something secret to hold, and no existingSecret).
*/}}
{{- define "cyberapp-tenants.createSecret" -}}
{{- if and (not .Values.existingSecret.name) (or (include "cyberapp-tenants.postgres" .) (include "cyberapp-tenants.grpcAuthToken" .) (include "cyberapp-tenants.hasGrpcReadToken" .) (include "cyberapp-tenants.storesCustomCallbackAuthToken" .)) }}true{{ end }}
{{- end }}

{{/*
http or https: how the gateway serves.
*/}}
{{- define "cyberapp-tenants.httpScheme" -}}
{{- if .Values.tls.enabled }}https{{ else }}http{{ end }}
{{- end }}

{{/*
terminationGracePeriodSeconds: the value given, or enough for the preStop pause and the drain.
*/}}
{{- define "cyberapp-tenants.terminationGracePeriodSeconds" -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- add (int64 .Values.preStopSleepSeconds) (int64 .Values.config.shutdownTimeoutSecs) 10 }}
{{- else }}
{{- int64 .Values.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/*
The pod and container security settings (podSecurityContext, securityContext; by default non-root uid/gid
65532 (distroless `nonroot`), read-only root, no privilege escalation, no capabilities, the runtime's default
seccomp profile). Keys set to null are left out (OpenShift assigns uid, gid and fsGroup itself); the
hardening keys are always the chart's, whatever the values say.
*/}}
{{- define "cyberapp-tenants.podSecurityContext" -}}
{{- $sc := include "cyberapp-tenants.withoutNulls" .Values.podSecurityContext | fromYaml }}
{{- $_ := set $sc "runAsNonRoot" true }}
{{- include "cyberapp-tenants.orderedYaml" (dict "map" $sc "order" (list "runAsNonRoot" "runAsUser" "runAsGroup" "fsGroup" "fsGroupChangePolicy" "supplementalGroups" "seccompProfile")) }}
{{- end }}
{{- define "cyberapp-tenants.containerSecurityContext" -}}
{{- $sc := include "cyberapp-tenants.withoutNulls" .Values.securityContext | fromYaml }}
{{- $_ := set $sc "runAsNonRoot" true }}
{{- $_ = set $sc "readOnlyRootFilesystem" true }}
{{- $_ = set $sc "allowPrivilegeEscalation" false }}
{{- $_ = set $sc "privileged" false }}
{{- $_ = set $sc "capabilities" (dict "drop" (list "ALL")) }}
{{- include "cyberapp-tenants.orderedYaml" (dict "map" $sc "order" (list "runAsNonRoot" "runAsUser" "runAsGroup" "readOnlyRootFilesystem" "allowPrivilegeEscalation" "privileged" "capabilities" "seccompProfile")) }}
{{- end }}
{{- /* A map as YAML, the keys of "order" first in that order, then the others. */}}
{{- define "cyberapp-tenants.orderedYaml" -}}
{{- $m := .map }}
{{- $lines := list }}
{{- range .order }}
{{- if hasKey $m . }}{{ $lines = append $lines (toYaml (dict . (index $m .))) }}{{ end }}
{{- end }}
{{- $rest := dict }}
{{- $order := .order }}
{{- range $k, $v := $m }}{{ if not (has $k $order) }}{{ $_ := set $rest $k $v }}{{ end }}{{ end }}
{{- with $rest }}{{ $lines = append $lines (toYaml .) }}{{ end }}
{{- join "\n" $lines }}
{{- end }}
{{- /* A map without its null values (one level down too), as YAML. */}}
{{- define "cyberapp-tenants.withoutNulls" -}}
{{- $out := dict }}
{{- range $k, $v := . }}
{{- if kindIs "map" $v }}
{{- $inner := dict }}
{{- range $ik, $iv := $v }}
{{- if not (kindIs "invalid" $iv) }}{{ $_ := set $inner $ik $iv }}{{ end }}
{{- end }}
{{- if $inner }}{{ $_ := set $out $k $inner }}{{ end }}
{{- else if not (kindIs "invalid" $v) }}
{{- $_ := set $out $k $v }}
{{- end }}
{{- end }}
{{- toYaml $out }}
{{- end }}

{{/*
The Deployment's affinity and topologySpreadConstraints: the values', plus spreadPreset's soft spread keyed
on the release (only the pods of the same rollout count: matchLabelKeys pod-template-hash).
*/}}
{{- define "cyberapp-tenants.affinity" -}}
{{- $affinity := deepCopy (default (dict) .Values.affinity) }}
{{- if .Values.spreadPreset.enabled }}
{{- $anti := default (dict) $affinity.podAntiAffinity }}
{{- $term := dict "weight" 100 "podAffinityTerm" (dict "topologyKey" "kubernetes.io/hostname" "labelSelector" (dict "matchLabels" (include "cyberapp-tenants.selectorLabels" . | fromYaml)) "matchLabelKeys" (list "pod-template-hash")) }}
{{- $_ := set $anti "preferredDuringSchedulingIgnoredDuringExecution" (append (default (list) $anti.preferredDuringSchedulingIgnoredDuringExecution) $term) }}
{{- $_ = set $affinity "podAntiAffinity" $anti }}
{{- end }}
{{- with $affinity }}{{ toYaml . }}{{ end }}
{{- end }}
{{- define "cyberapp-tenants.topologySpreadConstraints" -}}
{{- $constraints := default (list) .Values.topologySpreadConstraints }}
{{- if .Values.spreadPreset.enabled }}
{{- range list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
{{- $constraints = append $constraints (dict "maxSkew" 1 "topologyKey" . "whenUnsatisfiable" "ScheduleAnyway" "labelSelector" (dict "matchLabels" (include "cyberapp-tenants.selectorLabels" $ | fromYaml)) "matchLabelKeys" (list "pod-template-hash")) }}
{{- end }}
{{- end }}
{{- with $constraints }}{{ toYaml . }}{{ end }}
{{- end }}

{{/*
The image of the `helm test` pod: tests.image.registry/repository:tag.
*/}}
{{- define "cyberapp-tenants.testImage" -}}
{{- $i := .Values.tests.image }}
{{- if $i.registry }}{{ printf "%s/%s:%s" (trimSuffix "/" $i.registry) $i.repository $i.tag }}{{ else }}{{ printf "%s:%s" $i.repository $i.tag }}{{ end }}
{{- end }}

{{/*
Refuses values that would deploy something broken, with a message saying what to change.
*/}}
{{- define "cyberapp-tenants.validate" -}}
{{- $v := .Values }}
{{- if include "cyberapp-tenants.sqlite" . }}
{{- if gt (int64 $v.replicaCount) 1 }}
{{- fail (printf "database.mode=sqlite runs exactly one replica (the database is one file on a ReadWriteOnce volume), but replicaCount is %d: set replicaCount: 1, or use database.mode=postgres to run several replicas" (int64 $v.replicaCount)) }}
{{- end }}
{{- if $v.autoscaling.enabled }}
{{- fail "database.mode=sqlite runs exactly one replica (the database is one file on a ReadWriteOnce volume), so autoscaling.enabled must be false: use database.mode=postgres to autoscale" }}
{{- end }}
{{- end }}
{{- if and (eq $v.database.mode "sqlite") $v.database.url }}
{{- fail "database.url is only used with database.mode=postgres; in sqlite mode the chart sets DATABASE_URL to the file on its volume" }}
{{- end }}
{{- if and (include "cyberapp-tenants.postgres" .) (not $v.existingSecret.name) (not $v.database.url) }}
{{- fail "database.mode=postgres needs the database URL: set existingSecret.name (a Secret holding the key existingSecret.databaseUrlKey) or database.url" }}
{{- end }}
{{- if include "cyberapp-tenants.postgres" . }}
{{- $job := $v.database.migrationJob }}
{{- if ge (int64 $job.activeDeadlineSeconds) (int64 $job.helmTimeoutSeconds) }}
{{- fail (printf "database.migrationJob.activeDeadlineSeconds (%d) must be below database.migrationJob.helmTimeoutSeconds (%d), the --timeout of helm install/upgrade: Helm stops waiting for the migration hook at its timeout and fails the release while the Job may still run. Lower activeDeadlineSeconds, or pass a longer --timeout (e.g. --timeout 10m) and set helmTimeoutSeconds to it (600)" (int64 $job.activeDeadlineSeconds) (int64 $job.helmTimeoutSeconds)) }}
{{- end }}
{{- end }}
{{- if and $v.existingSecret.name $v.database.url }}
{{- fail "database.url must be empty when existingSecret.name is set: put DATABASE_URL in that Secret" }}
{{- end }}
{{- if and $v.existingSecret.name $v.grpcAuth.token }}
{{- fail "grpcAuth.token must be empty when existingSecret.name is set: put GRPC_AUTH_TOKEN in that Secret" }}
{{- end }}
{{- if and $v.existingSecret.name $v.grpcAuth.readToken }}
{{- fail "grpcAuth.readToken must be empty when existingSecret.name is set: put GRPC_READ_TOKEN in that Secret (key existingSecret.grpcReadTokenKey)" }}
{{- end }}
{{- if and (eq $v.config.serviceRole "gateway") (not $v.config.tenantServiceUrl) }}
{{- fail "config.serviceRole=gateway needs config.tenantServiceUrl, the TenantService's gRPC URL (e.g. http://RELEASE-cyberapp-tenants-grpc:50051)" }}
{{- end }}
{{- if and (ne $v.config.serviceRole "gateway") $v.config.tenantServiceUrl }}
{{- fail "config.tenantServiceUrl is only used with config.serviceRole=gateway" }}
{{- end }}
{{- if and (include "cyberapp-tenants.runsGateway" .) (not $v.config.acgwEndpointIds) }}
{{- fail (printf "config.serviceRole=%s runs the gateway, which refuses to start without ACGW_ENDPOINT_IDS: set config.acgwEndpointIds to the endpoint id(s) the Vendor Portal shows for your CyberApp, e.g. cti.a.p.acgw.endpoint.v1.0~vendor.app.endpoint.v1.0 (Acronis issues genuine tokens to every CyberApp, so the scope check alone would accept another CyberApp's callbacks)" $v.config.serviceRole) }}
{{- end }}
{{- if and (eq $v.config.serviceRole "gateway") (not $v.existingSecret.name) (not $v.grpcAuth.token) (not $v.grpcAuth.allowUnauthenticated) }}
{{- fail "config.serviceRole=gateway calls the TenantService at config.tenantServiceUrl, which requires its GRPC_AUTH_TOKEN: set existingSecret.name to a Secret holding that release's token (key existingSecret.grpcAuthTokenKey; e.g. the tenant-service release's own Secret, RELEASE-cyberapp-tenants, key GRPC_AUTH_TOKEN) or grpcAuth.token to the same value (grpcAuth.allowUnauthenticated=true only when that TenantService runs without a token behind a mesh)" }}
{{- end }}
{{- if and (eq $v.config.serviceRole "gateway") $v.grpcAuth.readToken }}
{{- fail "grpcAuth.readToken is only used by releases that run the TenantService (config.serviceRole all or tenant-service); give it to the tenant-service release" }}
{{- end }}
{{- if and $v.grpcAuth.readToken (eq $v.grpcAuth.readToken $v.grpcAuth.token) }}
{{- fail "grpcAuth.readToken must differ from grpcAuth.token: the read-only token must not also grant full access" }}
{{- end }}
{{- if and $v.grpcAuth.readToken $v.grpcAuth.allowUnauthenticated (not $v.grpcAuth.token) }}
{{- fail "grpcAuth.readToken needs a full token too (the service refuses GRPC_READ_TOKEN without GRPC_AUTH_TOKEN): set grpcAuth.token, or grpcAuth.allowUnauthenticated=false to have one generated" }}
{{- end }}
{{- $cc := $v.customCallbacks }}
{{- if and (eq $v.config.serviceRole "tenant-service") (or $v.config.customCallbackRoutes $cc.authToken $cc.existingSecret.name) }}
{{- fail "config.customCallbackRoutes, customCallbacks.authToken and customCallbacks.existingSecret.name are only used by releases that run the gateway (config.serviceRole all or gateway): the tenant-service role answers no callbacks; give them to the gateway release" }}
{{- end }}
{{- if and $cc.authToken $cc.existingSecret.name }}
{{- fail "customCallbacks.authToken must be empty when customCallbacks.existingSecret.name is set: put CUSTOM_CALLBACK_AUTH_TOKEN in that Secret (key customCallbacks.existingSecret.authTokenKey)" }}
{{- end }}
{{- if and $cc.authToken $v.existingSecret.name }}
{{- fail "customCallbacks.authToken must be empty when existingSecret.name is set (the chart then creates no Secret to keep it in): put CUSTOM_CALLBACK_AUTH_TOKEN in a Secret, e.g. that one, and set customCallbacks.existingSecret.name to it" }}
{{- end }}
{{- if and $v.ingress.enabled (eq $v.config.serviceRole "tenant-service") }}
{{- fail "ingress.enabled: the tenant-service role serves no callbacks (only /healthz, /readyz and /metrics on HTTP); put the ingress on the gateway release" }}
{{- end }}
{{- if and $v.tls.enabled (not $v.tls.secretName) }}
{{- fail "tls.enabled needs tls.secretName, a Secret of type kubernetes.io/tls" }}
{{- end }}
{{- $drain := add (int64 $v.preStopSleepSeconds) (int64 $v.config.shutdownTimeoutSecs) }}
{{- if and (not (kindIs "invalid" $v.terminationGracePeriodSeconds)) (le (int64 $v.terminationGracePeriodSeconds) $drain) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed preStopSleepSeconds + config.shutdownTimeoutSecs (%d), or in-flight callbacks are killed mid-drain; leave it null to have it computed" (int64 $v.terminationGracePeriodSeconds) $drain) }}
{{- end }}
{{- if and $v.autoscaling.enabled (gt (int64 $v.autoscaling.minReplicas) (int64 $v.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- if and $v.podDisruptionBudget.enabled (not (kindIs "invalid" $v.podDisruptionBudget.minAvailable)) (not (kindIs "invalid" $v.podDisruptionBudget.maxUnavailable)) }}
{{- fail "podDisruptionBudget: set minAvailable or maxUnavailable, not both (set the other to null)" }}
{{- end }}
{{- if and $v.podDisruptionBudget.enabled (kindIs "invalid" $v.podDisruptionBudget.minAvailable) (kindIs "invalid" $v.podDisruptionBudget.maxUnavailable) }}
{{- fail "podDisruptionBudget.enabled needs minAvailable or maxUnavailable" }}
{{- end }}
{{- $reserved := splitList "," (include "cyberapp-tenants.reservedLabels" .) }}
{{- range $field, $labels := dict "commonLabels" $v.commonLabels "podLabels" $v.podLabels "serviceMonitor.additionalLabels" $v.serviceMonitor.additionalLabels }}
{{- range $reserved }}
{{- if hasKey (default (dict) $labels) . }}
{{- fail (printf "%s must not set %s: the chart sets it (the Services, the PodDisruptionBudget and the NetworkPolicy select the pods by it, Helm owns the objects by it)" $field .) }}
{{- end }}
{{- end }}
{{- end }}
{{- range concat $v.extraVolumes $v.extraVolumeMounts }}
{{- if has .name (list "tmp" "data" "tls") }}
{{- fail (printf "extraVolumes and extraVolumeMounts must not use the name %s: tmp, data and tls are the chart's own volumes" .name) }}
{{- end }}
{{- end }}
{{- range $v.extraVolumeMounts }}
{{- $mount := .name }}
{{- if not (has $mount (list "tmp" "data" "tls")) }}
{{- $found := false }}
{{- range $v.extraVolumes }}{{ if eq .name $mount }}{{ $found = true }}{{ end }}{{ end }}
{{- if not $found }}
{{- fail (printf "extraVolumeMounts mounts %s, which is not in extraVolumes" $mount) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and $v.serviceMonitor.enabled $v.serviceMonitor.tlsCa (not $v.tls.enabled) }}
{{- fail "serviceMonitor.tlsCa is only used with tls.enabled (the scrape is plain HTTP otherwise)" }}
{{- end }}
{{- if and $v.serviceMonitor.tlsCa $v.serviceMonitor.tlsInsecureSkipVerify }}
{{- fail "serviceMonitor.tlsCa and serviceMonitor.tlsInsecureSkipVerify contradict each other: trust the CA, or skip the checks" }}
{{- end }}
{{- range $v.extraEnv }}
{{- if eq .name "ACGW_DEV_MODE" }}
{{- fail "extraEnv must not set ACGW_DEV_MODE: development mode trusts a local signing key and is never for a cluster" }}
{{- end }}
{{- if and (eq .name "CUSTOM_CALLBACK_AUTH_TOKEN") (hasKey . "value") }}
{{- fail "extraEnv must not set CUSTOM_CALLBACK_AUTH_TOKEN as a plain value: set customCallbacks.existingSecret.name (or customCallbacks.authToken, kept in the chart's Secret)" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The migration Job's ServiceAccount: its own hook ServiceAccount <fullname>-migrate when the chart creates
ServiceAccounts, else the existing one the pods use.
*/}}
{{- define "cyberapp-tenants.migrationServiceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- include "cyberapp-tenants.migrationName" . }}
{{- else }}
{{- include "cyberapp-tenants.serviceAccountName" . }}
{{- end }}
{{- end }}
