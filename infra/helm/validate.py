#!/usr/bin/env python3
"""Checks the Airlock chart without a cluster.

With Helm's SDK for Python (`pip install helm-python-sdk pyyaml`, which bundles Helm's
own Go library, no `helm` binary needed) it lints the chart and renders it twice, with the
defaults and with every optional part switched on, then checks the rendered objects. With
only PyYAML it falls back to parsing values.yaml and Chart.yaml and checking that every
template's `{{ }}` actions are balanced.

Usage: python3 infra/helm/validate.py [chart directory]
"""

import pathlib
import re
import sys

import yaml

CHART = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(__file__).parent / "airlock"
BINARIES = {
    "airlock-scheduler",
    "airlock-outbox-publisher",
    "airlock-manifest-validator",
    "airlock-inbox-ingester",
    "airlock-status-recorder",
    "airlock-api",
}

# Every optional part on: registry, ingress, autoscaling, identity annotations, overrides.
EVERYTHING_ON = {
    "registry": "registry.example.com/team",
    "tag": "1.2.3",
    "imagePullSecrets": [{"name": "pull"}],
    "extraEnvSecrets": ["airlock-oidc-env", "registry-object-stores-env", "airlock-master-key"],
    "env": [{"name": "AWS_REGION", "value": "eu-west-1"}],
    "settings": {"AIRLOCK_BUS_URL": "nats://nats:4222?prefix=airlock", "OTEL_SERVICE_NAME": "airlock"},
    "functions": {
        "outboxPublisher": {"autoscaling": {"enabled": True}, "env": [{"name": "X", "value": "1"}]},
        "scheduler": {"replicas": 5},
    },
    "ingress": {"enabled": True, "className": "nginx", "tls": [{"secretName": "t", "hosts": ["a.example.com"]}]},
    "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/airlock"}},
    "podLabels": {"azure.workload.identity/use": "true"},
    "platform": {
        "infosec": {"enabled": True, "max": "SECRET", "levels": [{"name": "UNCLASSIFIED", "order": 0}, {"name": "SECRET", "order": 20}]},
        "tags": [{"name": "ITAR"}],
        "users": [{"id": "alice", "level": "SECRET", "tags": ["ITAR"], "secure_connections": True}],
    },
}

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)


def static_checks():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    check(chart.get("apiVersion") == "v2", "Chart.yaml: apiVersion must be v2")
    check({f["binary"] for f in values["functions"].values()} == BINARIES, "values.yaml: functions must name every binary")
    for template in sorted((CHART / "templates").glob("*")):
        text = template.read_text()
        opens, closes = len(re.findall(r"\{\{", text)), len(re.findall(r"\}\}", text))
        check(opens == closes, f"{template.name}: {opens} '{{{{' but {closes} '}}}}'")
        depth = 0
        for action in re.findall(r"\{\{-?\s*(\w+)", text):
            depth += action in ("if", "range", "with", "define")
            depth -= action == "end"
            check(depth >= 0, f"{template.name}: 'end' without an opening block")
        check(depth == 0, f"{template.name}: {depth} block(s) left open")
    return values


def objects(manifests):
    out = []
    for name, text in manifests.items():
        if name.endswith(".txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                out.append(doc)
    return out


def rendered_checks(helm):
    lint = helm.lint(str(CHART))
    check(not lint["errors"], f"helm lint: {lint['errors']}")
    for message in lint["messages"]:
        check(message["severity"] < 3, f"helm lint: {message}")
    with helm.Chart.load(str(CHART)) as chart:
        defaults = objects(chart.render({}, name="airlock", namespace="scs"))
        full = objects(chart.render(EVERYTHING_ON, name="scs", namespace="scs"))

    deployments = {d["spec"]["template"]["spec"]["containers"][0]["command"][0]: d for d in defaults if d["kind"] == "Deployment"}
    check(set(deployments) == BINARIES, f"one Deployment per function expected, got {sorted(deployments)}")
    check(deployments["airlock-scheduler"]["spec"]["replicas"] == 1, "the scheduler must run one replica")
    for binary, deployment in deployments.items():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        secrets = [e["secretRef"]["name"] for e in container.get("envFrom", [])]
        check(secrets[:1] == ["airlock-main-env"], f"{binary}: envFrom must start with secretName, got {secrets}")
        names = [e["name"] for e in container.get("env", [])]
        check(len(names) == len(set(names)), f"{binary}: duplicate env entries {names}")
        check({"name": "OTEL_SERVICE_NAME", "value": binary} in container["env"], f"{binary}: OTEL_SERVICE_NAME")
    api = deployments["airlock-api"]["spec"]["template"]["spec"]["containers"][0]
    check(api["readinessProbe"]["httpGet"]["path"] == "/healthz", "api: readiness probe on /healthz")
    check(api["livenessProbe"]["httpGet"]["path"] == "/healthz", "api: liveness probe on /healthz")
    kinds = sorted(d["kind"] for d in defaults)
    check(kinds.count("Service") == 1 and "Ingress" not in kinds, f"defaults: one Service, no Ingress: {kinds}")
    check("ConfigMap" not in kinds, "defaults: no platform file, so no ConfigMap")
    check(all(e["name"] != "AIRLOCK_PLATFORM_FILE" for e in api["env"]), "defaults: no AIRLOCK_PLATFORM_FILE")

    platform_maps = [d for d in full if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "scs-airlock-platform"]
    check(len(platform_maps) == 1, "platform values: one platform ConfigMap expected")
    if platform_maps:
        rendered = yaml.safe_load(platform_maps[0]["data"]["platform.yaml"])
        check(rendered == EVERYTHING_ON["platform"], f"platform ConfigMap holds the values as given: {rendered}")
    for d in full:
        if d["kind"] != "Deployment":
            continue
        pod = d["spec"]["template"]["spec"]
        container = pod["containers"][0]
        is_api = container["command"][0] == "airlock-api"
        env = {e["name"]: e.get("value") for e in container["env"]}
        mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}
        if is_api:
            check(env.get("AIRLOCK_PLATFORM_FILE") == "/etc/airlock/platform/platform.yaml", "api: AIRLOCK_PLATFORM_FILE")
            check(mounts.get("platform") == "/etc/airlock/platform", "api: the platform file is mounted")
            volumes = {v["name"]: v for v in pod["volumes"]}
            check(volumes.get("platform", {}).get("configMap", {}).get("name") == "scs-airlock-platform", "api: volume")
            check("checksum/platform" in d["spec"]["template"]["metadata"].get("annotations", {}), "api: checksum")
        else:
            check("AIRLOCK_PLATFORM_FILE" not in env and "platform" not in mounts, f"{container['command'][0]}: no platform file")

    kinds = sorted(d["kind"] for d in full)
    check("Ingress" in kinds and "HorizontalPodAutoscaler" in kinds, f"everything on: Ingress and HPA expected: {kinds}")
    for d in full:
        if d["kind"] == "Deployment":
            pod = d["spec"]["template"]["spec"]
            container = pod["containers"][0]
            command = container["command"][0]
            check(container["image"] == "registry.example.com/team/airlock:1.2.3", f"{command}: image {container['image']}")
            check(
                [e["secretRef"]["name"] for e in container["envFrom"]]
                == ["airlock-main-env", "airlock-oidc-env", "registry-object-stores-env", "airlock-master-key"],
                f"{command}: every extraEnvSecrets entry mounted in order",
            )
            names = [e["name"] for e in container["env"]]
            check(len(names) == len(set(names)), f"{command}: duplicate env entries {names}")
            check(pod["serviceAccountName"] == "scs-airlock", f"{command}: service account")
            if command == "airlock-scheduler":
                check(d["spec"]["replicas"] == 1, "the scheduler stays at one replica whatever is asked")
            if command == "airlock-outbox-publisher":
                check("replicas" not in d["spec"], "an autoscaled Deployment leaves replicas to its HPA")
        if d["kind"] == "ServiceAccount":
            check("eks.amazonaws.com/role-arn" in d["metadata"].get("annotations", {}), "service account annotations")


def main():
    static_checks()
    try:
        import helm_python as helm
    except ImportError:
        helm = None
    if helm is None:
        print("helm-python-sdk not installed: checked values.yaml, Chart.yaml and template delimiters only")
    else:
        rendered_checks(helm)
        print(f"linted and rendered with Helm SDK {helm.helm_sdk_version()}")
    for failure in failures:
        print("FAIL", failure)
    if failures:
        sys.exit(1)
    print("chart ok")


if __name__ == "__main__":
    main()
