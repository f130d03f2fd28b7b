"""The bundled MongoDB: a single-member replica set, initiated idempotently; the backend connects as an
application user with readWrite on its database (root only for initialisation); a backup CronJob, off by
default and on in values/prod.yaml."""

from typing import Any

from chart_render import render_chart


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in container.get("env", [])}


def containers(pod_spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in [*pod_spec.get("initContainers", []), *pod_spec["containers"]]}


def test_mongodb_runs_a_single_member_replica_set_with_an_internal_key() -> None:
    render = render_chart()
    statefulset = render.component("StatefulSet", "mongodb")
    assert statefulset["spec"]["replicas"] == 1
    pod = statefulset["spec"]["template"]["spec"]
    parts = containers(pod)
    args = parts["mongodb"]["args"]
    assert args[args.index("--replSet") + 1] == "rs0"
    assert args[args.index("--keyFile") + 1] == "/keyfile/key"
    assert "chmod 400 /keyfile/key" in parts["keyfile"]["command"][-1]
    keyfile = next(v for v in pod["volumes"] if v["name"] == "keyfile")
    assert keyfile["emptyDir"]["medium"] == "Memory"
    setup = env_of(parts["setup"])
    assert setup["MEMBER_HOST"]["value"] == "$(POD_NAME).cloudemy-mongodb-headless.cloudemy.svc:27017"
    assert list(setup).index("POD_NAME") < list(setup).index("MEMBER_HOST")  # $(POD_NAME) expands
    assert setup["APP_USER"]["value"] == "cloudemy"
    assert setup["APP_DATABASE"]["value"] == "cloudemy"


def test_setup_script_initiates_once_and_keeps_the_app_user_least_privileged() -> None:
    script = render_chart().named("ConfigMap", "cloudemy-mongodb-setup")["data"]["setup.js"]
    assert 'error.codeName !== "NotYetInitialized"' in script
    assert script.index("rs.status()") < script.index("rs.initiate(")
    assert '[{ role: "readWrite", db: process.env.APP_DATABASE }]' in script
    assert "app.updateUser(" in script
    assert "app.createUser(" in script
    assert "root" not in script  # root's password stays in the shell wrapper, never in a role


def test_backend_connects_as_the_application_user_through_the_replica_set() -> None:
    render = render_chart({"config": {"dbName": "exams"}, "mongodb": {"replicaSetName": "cloudemy-rs"}})
    (container,) = render.component("Deployment", "backend")["spec"]["template"]["spec"]["containers"]
    env = env_of(container)
    assert env["MONGO_URI"]["value"] == (
        "mongodb://cloudemy:$(MONGODB_APP_PASSWORD)@cloudemy-mongodb:27017/exams?authSource=exams&replicaSet=cloudemy-rs"
    )
    assert env["MONGODB_APP_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "MONGODB_APP_PASSWORD"
    assert "MONGODB_ROOT_PASSWORD" not in env
    assert "root" not in env["MONGO_URI"]["value"]
    assert list(env).index("MONGODB_APP_PASSWORD") < list(env).index("MONGO_URI")


def test_backup_is_off_by_default() -> None:
    render = render_chart()
    assert render.of_kind("CronJob") == []
    assert not [o for o in render.of_kind("PersistentVolumeClaim") if "backup" in o["metadata"]["name"]]


def test_prod_backs_up_nightly_with_mongodump_to_a_kept_volume() -> None:
    render = render_chart(values_files=["values/prod.yaml"])
    (cronjob,) = render.of_kind("CronJob")
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    script = container["command"][-1]
    assert "mongodump" in script
    assert "--archive=" in script
    assert "--gzip" in script
    assert "tail -n +15" in script  # keep: 14 in values/prod.yaml
    assert env_of(container)["MONGO_URI"]["value"].startswith("mongodb://cloudemy:$(MONGODB_APP_PASSWORD)@")
    claim = next(v for v in pod["volumes"] if v["name"] == "backup")["persistentVolumeClaim"]["claimName"]
    pvc = render.named("PersistentVolumeClaim", claim)
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert pvc["spec"]["resources"]["requests"]["storage"] == "40Gi"
    assert pod["automountServiceAccountToken"] is False


def test_backup_pods_may_reach_mongodb_under_the_network_policies() -> None:
    render = render_chart(values_files=["values/prod.yaml"])
    mongodb = render.named("NetworkPolicy", "cloudemy-mongodb-netpol")
    sources = [
        peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        for peer in mongodb["spec"]["ingress"][0]["from"]
    ]
    assert sources == ["backend", "mongodb-backup"]
    backup = render.named("NetworkPolicy", "cloudemy-mongodb-backup-netpol")
    assert backup["spec"]["egress"][0]["ports"] == [{"protocol": "TCP", "port": 27017}]


def test_backup_retention_and_schedule_come_from_values() -> None:
    values = {"mongodb": {"backup": {"enabled": True, "keep": 3, "schedule": "0 */6 * * *"}}}
    (cronjob,) = render_chart(values).of_kind("CronJob")
    assert cronjob["spec"]["schedule"] == "0 */6 * * *"
    assert "tail -n +4" in cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"][-1]
