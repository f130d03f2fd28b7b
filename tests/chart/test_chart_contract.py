"""The names and numbers of docs/architecture.md (ports, HPA, probes, the runner Job), as rendered."""

import pytest
from chart_render import containers_of, env_of, render_chart, render_scenario

ARCHITECTURE_HPA_BEHAVIOR = {
    "scaleDown": {
        "stabilizationWindowSeconds": 60,
        "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}],
    },
    "scaleUp": {
        "stabilizationWindowSeconds": 0,
        "policies": [
            {"type": "Percent", "value": 100, "periodSeconds": 15},
            {"type": "Pods", "value": 2, "periodSeconds": 15},
        ],
        "selectPolicy": "Max",
    },
}


def test_backend_hpa_matches_the_architecture() -> None:
    render = render_scenario("default")
    hpa = render.component("HorizontalPodAutoscaler", "backend")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "cloudemy-backend"}
    assert hpa["spec"]["minReplicas"] == 1
    assert hpa["spec"]["maxReplicas"] == 10
    targets = {m["resource"]["name"]: m["resource"]["target"] for m in hpa["spec"]["metrics"]}
    assert targets == {
        "cpu": {"type": "Utilization", "averageUtilization": 70},
        "memory": {"type": "Utilization", "averageUtilization": 80},
    }
    assert hpa["spec"]["behavior"] == ARCHITECTURE_HPA_BEHAVIOR


def test_replicas_are_left_to_the_hpa_while_it_is_on() -> None:
    assert "replicas" not in render_scenario("default").component("Deployment", "backend")["spec"]
    off = render_scenario("hpa-off")
    assert off.of_kind("HorizontalPodAutoscaler") == []
    assert off.component("Deployment", "backend")["spec"]["replicas"] == 3


def test_backend_deployment_matches_the_architecture() -> None:
    backend = render_scenario("default").component("Deployment", "backend")
    (container,) = backend["spec"]["template"]["spec"]["containers"]
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert container["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "500m", "memory": "512Mi"},
    }
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    env = env_of(container)
    assert env["DB_NAME"]["value"] == "cloudemy"
    assert env["QUEUE_SUBMISSIONS"]["value"] == "queue:submissions"
    assert env["PORT"]["value"] == "8000"
    assert set(env) >= {
        "MONGO_URI", "DB_NAME", "REDIS_URL", "QUEUE_SUBMISSIONS", "INTERNAL_RESULT_TOKEN",
        "JWT_SECRET", "CLOUDEMY_ADMIN_EMAIL", "CLOUDEMY_ADMIN_PASSWORD", "CORS_ORIGINS", "MAX_CODE_BYTES",
        "ALLOW_SIGNUP", "PORT", "SUBMISSION_PAYLOAD_TTL", "JOB_DEADLINE_SECONDS", "STUCK_GRACE_SECONDS",
        "SWEEP_INTERVAL_SECONDS", "JWT_EXPIRE_MINUTES", "LOG_LEVEL", "WEB_CONCURRENCY",
    }  # fmt: skip
    assert "LLM_API_KEY" not in env


def test_services_listen_on_the_documented_ports() -> None:
    render = render_scenario("frontend-on")
    ports = {svc["metadata"]["name"]: [p["port"] for p in svc["spec"]["ports"]] for svc in render.of_kind("Service")}
    assert ports["cloudemy-backend"] == [8000]
    assert ports["cloudemy-mongodb"] == [27017]
    assert ports["cloudemy-redis"] == [6379]
    assert ports["cloudemy-frontend"] == [3000]
    assert ports["cloudemy-scheduler"] == [9090]
    assert all(svc["spec"]["type"] == "ClusterIP" for svc in render.of_kind("Service"))


def test_scheduler_env_and_replicas() -> None:
    render = render_scenario("default")
    scheduler = render.component("Deployment", "scheduler")
    assert scheduler["spec"]["replicas"] == 1
    (container,) = scheduler["spec"]["template"]["spec"]["containers"]
    env = env_of(container)
    assert env["K8S_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["EXECUTOR"]["value"] == "kubernetes"
    assert env["MAX_ACTIVE_JOBS"]["value"] == "50"
    assert env["METRICS_PORT"]["value"] == "9090"
    assert env["RUNNER_JOB_TEMPLATE"]["value"] == "/etc/cloudemy/runner/job.yaml"
    assert not {"RUNNER_IMAGE", "RUNNER_SECRET_NAME"} & set(env), "the runner's image and Secret: in the template"
    assert env["INTERNAL_RESULT_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == "INTERNAL_RESULT_TOKEN"
    assert "LLM_API_KEY" not in env, "the scheduler only passes a secretKeyRef into the Job template"
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}, "red while unsynced"
    assert container["ports"][0]["containerPort"] == 9090
    assert render_scenario("prod").component("Deployment", "scheduler")["spec"]["replicas"] == 2


def test_runner_job_template_is_the_documented_job() -> None:
    job = render_scenario("default").job_template()
    spec = job["spec"]
    assert spec["backoffLimit"] == 1
    assert spec["activeDeadlineSeconds"] == 120 + 180, "grading time plus the startup allowance"
    assert spec["ttlSecondsAfterFinished"] > 0
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "cloudemy-runner"
    (runner,) = pod["containers"]
    assert runner["name"] == "runner"
    assert runner["image"] == "ghcr.io/cloudemy/cloudemy-runner:0.1.0"
    env = env_of(runner)
    assert env["LLM_MODEL"]["value"] == "gpt-4o-mini"
    assert env["JOB_DEADLINE_SECONDS"]["value"] == "120", "the runner's grading time, counted from its own start"
    assert "JOB_CREATED_AT" not in env, "the scheduler stamps the Job's creation time"
    assert env["LLM_API_KEY"]["valueFrom"] == {"secretKeyRef": {"name": "cloudemy", "key": "LLM_API_KEY"}}
    assert set(env) >= {"REDIS_URL", "BACKEND_INTERNAL_URL", "LLM_MODEL", "LLM_BASE_URL", "LLM_TIMEOUT_SECONDS"}
    assert "SUBMISSION_ID" not in env, "the scheduler stamps SUBMISSION_ID"
    assert "INTERNAL_RESULT_TOKEN" not in env, "the master token never enters a runner pod"
    assert {"name": "tmp", "mountPath": "/tmp"} in runner["volumeMounts"]
    labels = spec["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "runner"


def test_job_deadline_is_grading_time_plus_startup_allowance_everywhere() -> None:
    """The runner gets the grading time; the Job, and the backend's sweep that waits for it, get the whole span."""
    render = render_chart({"runner": {"job": {"activeDeadlineSeconds": 300, "startupAllowanceSeconds": 45}}})
    job = render.job_template()
    assert job["spec"]["activeDeadlineSeconds"] == 345
    assert env_of(job["spec"]["template"]["spec"]["containers"][0])["JOB_DEADLINE_SECONDS"]["value"] == "300"
    backend = render.component("Deployment", "backend")["spec"]["template"]["spec"]["containers"][0]
    assert env_of(backend)["JOB_DEADLINE_SECONDS"]["value"] == "345"


def test_pending_bounds_reach_the_scheduler_and_fire_before_the_job_deadline() -> None:
    render = render_scenario("default")
    scheduler = env_of(render.component("Deployment", "scheduler")["spec"]["template"]["spec"]["containers"][0])
    names = ("IMAGE_PULL_TIMEOUT_SECONDS", "POD_UNSCHEDULABLE_TIMEOUT_SECONDS", "POD_CREATE_TIMEOUT_SECONDS")
    bounds = {name: float(scheduler[name]["value"]) for name in names}
    allowance = 180
    assert all(bound < allowance for bound in bounds.values()), bounds
    assert bounds["IMAGE_PULL_TIMEOUT_SECONDS"] == 60


def test_runner_scheduling_knobs_reach_the_job_template() -> None:
    job = render_scenario("runner-sandbox").job_template()
    pod = job["spec"]["template"]["spec"]
    assert pod["runtimeClassName"] == "gvisor"
    assert pod["nodeSelector"] == {"cloudemy.io/pool": "runners"}
    assert pod["tolerations"][0]["key"] == "cloudemy.io/runners"
    assert job["metadata"]["labels"]["cost-center"] == "grading"
    assert job["spec"]["template"]["metadata"]["labels"]["cost-center"] == "grading"


def test_scheduler_mounts_the_job_template_where_runner_job_template_points() -> None:
    render = render_scenario("default")
    pod = render.component("Deployment", "scheduler")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    path = env_of(container)["RUNNER_JOB_TEMPLATE"]["value"]
    directory, filename = path.rsplit("/", 1)
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == directory)
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    config_map = render.named("ConfigMap", volume["configMap"]["name"])
    assert config_map["metadata"]["name"] == "cloudemy-runner-job-template"
    assert filename in config_map["data"]


@pytest.mark.parametrize("component", ["mongodb", "redis"])
def test_databases_are_statefulsets_with_the_documented_probes(component: str) -> None:
    render = render_scenario("default")
    statefulset = render.component("StatefulSet", component)
    container = next(c for c in statefulset["spec"]["template"]["spec"]["containers"] if c["name"] == component)
    if component == "mongodb":
        expected = ["mongosh", "--quiet", "--eval", "db.runCommand({ ping: 1 }).ok"]
        assert (container["livenessProbe"]["initialDelaySeconds"], container["livenessProbe"]["periodSeconds"]) == (
            30,
            10,
        )
        assert container["livenessProbe"]["timeoutSeconds"] == 5
        assert (container["readinessProbe"]["initialDelaySeconds"], container["readinessProbe"]["periodSeconds"]) == (
            10,
            5,
        )
        assert env_of(container)["MONGO_INITDB_DATABASE"]["value"] == "cloudemy"
    else:
        expected = ["redis-cli", "ping"]
        assert container["command"][:3] == ["redis-server", "--appendonly", "yes"]
        assert (container["readinessProbe"]["initialDelaySeconds"], container["readinessProbe"]["periodSeconds"]) == (
            5,
            5,
        )
    assert container["livenessProbe"]["exec"]["command"] == expected
    assert container["readinessProbe"]["exec"]["command"] == expected


def test_mongodb_image_is_a_supported_release() -> None:
    container = render_scenario("default").component("StatefulSet", "mongodb")["spec"]["template"]["spec"][
        "containers"
    ][0]
    repository, tag = container["image"].split(":")
    assert repository == "docker.io/library/mongo"
    major = int(tag.split(".")[0])
    assert major >= 8, f"mongo:{tag} is past end of life"
    assert tag.count(".") == 2, "pinned to a patch release"


@pytest.mark.parametrize("component", ["mongodb", "redis"])
def test_persistence_switches_emptydir_for_a_claim(component: str) -> None:
    def data_volume(render_name: str) -> tuple[dict | None, list]:
        statefulset = render_scenario(render_name).component("StatefulSet", component)
        volumes = {v["name"]: v for v in statefulset["spec"]["template"]["spec"]["volumes"]}
        return volumes.get("data"), statefulset["spec"].get("volumeClaimTemplates", [])

    volume, claims = data_volume("default")
    assert volume == {"name": "data", "emptyDir": {}}
    assert claims == []
    volume, claims = data_volume("prod")
    assert volume is None
    assert [c["metadata"]["name"] for c in claims] == ["data"]
    assert claims[0]["spec"]["resources"]["requests"]["storage"]


def test_external_databases_drop_the_bundled_ones() -> None:
    render = render_scenario("external-databases")
    assert render.of_kind("StatefulSet") == []
    names = {svc["metadata"]["name"] for svc in render.of_kind("Service")}
    assert not {n for n in names if "mongodb" in n or "redis" in n}


def test_pdbs_and_spread_in_prod() -> None:
    render = render_scenario("prod")
    pdbs = render.of_kind("PodDisruptionBudget")
    assert {p["metadata"]["labels"]["app.kubernetes.io/component"] for p in pdbs} == {"backend", "scheduler"}
    backend = render.component("Deployment", "backend")["spec"]["template"]["spec"]
    assert backend["topologySpreadConstraints"]
    assert render_scenario("default").of_kind("PodDisruptionBudget") == []


def test_containers_use_values_images() -> None:
    render = render_scenario("minikube")
    images = {c["image"] for _, pod in render.workloads() for c in containers_of(pod)}
    assert {"cloudemy-backend:dev", "cloudemy-scheduler:dev", "cloudemy-runner:dev"} <= images
    digest = "sha256:" + "a" * 64
    pinned = render_chart({"backend": {"image": {"digest": digest}}})
    container = pinned.component("Deployment", "backend")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"ghcr.io/cloudemy/cloudemy-backend@{digest}"
