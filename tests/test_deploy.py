"""
The deployment files in deploy/: they parse, name real config keys and agree with each other.

No container engine or cluster runs here, so these tests check what can be checked
without one: the compose file and every Kubernetes manifest parse (and the manifests
match the Kubernetes API schema); the configs they carry load through the gateway's
own config loader with the environment they set, so a renamed key fails here; the
ports agree between the Dockerfile, the config, compose, nginx, the Service and the
probes; the probes' paths answer on an in-process gateway; the image runs as a
non-root user without build tools; and the systemd unit passes `systemd-analyze
verify` wherever that tool exists.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import shutil
import socket
import subprocess
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import kubernetes_validate
import pytest
import yaml

from gateway.cli import build_parser
from gateway.config import (
    CONFIG_ENV_VAR,
    DEFAULT_SHUTDOWN_GRACE_SECONDS,
    ENV_PREFIX,
    SECTION_KEYS,
    Settings,
    load_config,
    settings_from_mapping,
)
from gateway.errors import ConfigError
from gateway.iam.crypto import generate_master_key

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"
COMPOSE_FILE = DEPLOY / "compose.yaml"
COMPOSE_CONFIG = DEPLOY / "compose-gateway.toml"
NGINX_CONF = DEPLOY / "nginx.conf"
DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
UNIT = DEPLOY / "systemd" / "gateway.service"

# The oldest Kubernetes release the manifests promise to work with, and the newest the
# schema package knows.
KUBERNETES_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())

HEALTH = "/_gateway/health"
READY = "/_gateway/ready"

# What the deploy files set from outside; real values of the right shape.
FAKE_SECRETS = {
    "GATEWAY_MASTER_KEY": generate_master_key(),
    "POSTGRES_PASSWORD": "0123456789abcdef0123456789abcdef",
    "GATEWAY_ROOT_PASSWORD": "Root-Passw0rd!",
}


# --- readers -------------------------------------------------------------------------------------


def load_yaml(path: Path) -> list[Any]:
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc is not None]


def manifest_files() -> list[Path]:
    return sorted(K8S.glob("*.yaml"))


def manifests() -> list[dict[str, Any]]:
    return [doc for path in manifest_files() for doc in load_yaml(path)]


def manifest(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [
        doc
        for doc in manifests()
        if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def compose() -> dict[str, Any]:
    (doc,) = load_yaml(COMPOSE_FILE)
    assert isinstance(doc, dict)
    return doc


class MissingVariable(Exception):
    """Compose would refuse to start: a required ``${VAR:?message}`` is unset."""


_INTERPOLATION = re.compile(r"\$(?:\$|\{(\w+)(?::([?-])([^}]*))?\})")


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Expand compose's ${VAR}, ${VAR:-default} and ${VAR:?message}; $$ is a dollar."""

    def expand(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, operator, argument = match.groups()
        value = env.get(name, "")
        if value:
            return value
        if operator == "?":
            raise MissingVariable(f"{name}: {argument}")
        return argument if operator == "-" else ""

    return _INTERPOLATION.sub(expand, text)


def service_env(service: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, str]:
    raw = service.get("environment", {})
    assert isinstance(raw, dict), "environment as a mapping"
    return {name: interpolate(str(value), env) for name, value in raw.items()}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuation lines joined, comments out."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        text = (pending + line).strip()
        pending = ""
        if text:
            keyword, _, arguments = text.partition(" ")
            instructions.append((keyword.upper(), " ".join(arguments.split())))
    return instructions


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    starts = [index for index, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    return instructions[starts[-1] :]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, arguments in final_stage():
        if keyword == "ENV":
            for item in shlex.split(arguments):
                name, _, value = item.partition("=")
                env[name] = value
    return env


def image_port() -> int:
    (exposed,) = [arguments for keyword, arguments in final_stage() if keyword == "EXPOSE"]
    return int(exposed.split("/")[0])


def container(kind: str) -> dict[str, Any]:
    pod = manifest(kind)["spec"]["template"]["spec"]
    (only,) = pod["containers"]
    assert isinstance(only, dict)
    return only


def configmap_toml() -> str:
    text = manifest("ConfigMap", "gateway-config")["data"]["gateway.toml"]
    assert isinstance(text, str)
    return text


def kubernetes_env(spec: Mapping[str, Any]) -> dict[str, str]:
    """A container's environment, with each secretKeyRef given a value of the right shape."""
    secret = manifest_secret_values()
    env: dict[str, str] = {}
    for item in spec.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            assert ref["key"] in secret, f"{item['name']}: the Secret has no key {ref['key']}"
            env[item["name"]] = secret[ref["key"]]
    return env


def manifest_secret_values() -> dict[str, str]:
    # The placeholders' real counterparts, as `kubectl create secret` would hold them.
    return {
        "master-key": FAKE_SECRETS["GATEWAY_MASTER_KEY"],
        "store-url": "postgresql://gateway:secret@postgres:5432/gateway",
        "root-password": FAKE_SECRETS["GATEWAY_ROOT_PASSWORD"],
    }


def kubernetes_settings(tmp_path: Path, **overrides: str) -> Settings:
    path = tmp_path / "gateway.toml"
    path.write_text(configmap_toml(), encoding="utf-8")
    env = {**image_env(), **kubernetes_env(container("Deployment")), **overrides}
    return load_config(path, environ=env)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert isinstance(port, int)
    return port


def check_shell_syntax(script: str) -> None:
    """Parse ``script`` with the POSIX shell, without running it (``sh -n``)."""
    shell = shutil.which("sh")
    assert shell is not None
    subprocess.run([shell, "-n", "-c", script], check=True)  # noqa: S603 - parsed, not run


def container_port(spec: Mapping[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    (number,) = [item["containerPort"] for item in spec["ports"] if item["name"] == port]
    assert isinstance(number, int)
    return number


def gateway_variables() -> Iterator[tuple[str, str]]:
    """Every GATEWAY_* variable the deploy files set, with where."""
    for name in image_env():
        yield "Dockerfile", name
    for service_name, service in compose()["services"].items():
        for name in service.get("environment", {}):
            yield f"compose {service_name}", name
    for doc in manifests():
        if doc["kind"] in ("Deployment", "Job"):
            for spec in doc["spec"]["template"]["spec"]["containers"]:
                for item in spec.get("env", []):
                    yield f"{doc['kind']} {doc['metadata']['name']}", item["name"]
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if line.startswith("Environment="):
            yield "systemd", line.removeprefix("Environment=").partition("=")[0]


# --- every file parses and follows the API -------------------------------------------------------


def test_every_yaml_file_parses() -> None:
    """The compose file and every Kubernetes manifest are YAML with the expected shape."""
    assert compose()["services"]
    for path in manifest_files():
        docs = load_yaml(path)
        assert docs, f"{path.name} is empty"
        for doc in docs:
            assert {"apiVersion", "kind"} <= doc.keys(), path.name
            if doc["kind"] != "Kustomization":
                assert doc["metadata"]["name"], path.name


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_manifests_match_the_kubernetes_api_schema(version: str) -> None:
    """Every manifest validates strictly (no unknown field) against the Kubernetes API."""
    checked = 0
    for doc in manifests():
        if doc["kind"] == "Kustomization":
            continue
        kubernetes_validate.validate(doc, version, strict=True)
        checked += 1
    assert checked >= 6


def test_schema_validation_catches_a_misspelled_field() -> None:
    """The schema check above can fail: a typo in a probe's name is refused."""
    deployment = manifest("Deployment")
    spec = deployment["spec"]["template"]["spec"]["containers"][0]
    spec["readinesProbe"] = spec.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)


def test_kustomization_lists_every_manifest_but_the_secret_placeholder() -> None:
    """`kubectl apply -k` applies all manifests and never overwrites the real Secret."""
    kustomization = manifest("Kustomization")
    listed = set(kustomization["resources"])
    expected = {
        path.name
        for path in manifest_files()
        if path.name not in ("kustomization.yaml", "secret.example.yaml")
    }
    assert listed == expected
    assert manifest("Secret")["metadata"]["name"] == "gateway-secrets"
    # deploy/README.md applies `-l app.kubernetes.io/component!=server` (all but the
    # replicas) before the Deployment, so that the migration Job runs first.
    server = [
        doc["kind"]
        for doc in manifests()
        if doc.get("metadata", {}).get("labels", {}).get("app.kubernetes.io/component") == "server"
    ]
    assert server == ["Deployment"]


def test_every_gateway_variable_is_a_real_setting() -> None:
    """Each GATEWAY_* variable set anywhere is a real override, not a silently ignored typo."""
    known = {CONFIG_ENV_VAR, "GATEWAY_MASTER_KEY"}
    for section, keys in SECTION_KEYS.items():
        known |= {f"{ENV_PREFIX}{section}_{key}".upper() for key in keys}
    seen = list(gateway_variables())
    assert len(seen) > 10
    for where, name in seen:
        if name.startswith(ENV_PREFIX):
            assert name in known, f"{where}: {name} is not a gateway setting"


# --- the configs load through the real loader ----------------------------------------------------


def test_kubernetes_config_loads_with_the_deployment_environment(tmp_path: Path) -> None:
    """The ConfigMap's TOML plus the Deployment's variables are valid settings for PostgreSQL."""
    settings = kubernetes_settings(tmp_path)
    assert settings.store.kind == "postgresql"
    assert settings.secrets.master_key is not None
    assert settings.server.host == "0.0.0.0"  # noqa: S104 - a container listens on all
    assert settings.upstreams, "the example upstream is there"
    spec = container("Deployment")
    mount = {item["name"]: item["mountPath"] for item in spec["volumeMounts"]}["config"]
    args = build_parser().parse_args(spec["args"])
    assert args.command == "serve"
    assert Path(args.config) == Path(mount) / "gateway.toml"
    assert kubernetes_env(spec)[CONFIG_ENV_VAR] == args.config


def test_kubernetes_config_would_fail_on_a_renamed_key(tmp_path: Path) -> None:
    """The check above has teeth: a key the loader does not know is an error."""
    path = tmp_path / "gateway.toml"
    path.write_text(configmap_toml().replace("shutdown_grace_seconds", "grace"), "utf-8")
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(path, environ=kubernetes_env(container("Deployment")))


def test_migration_job_runs_init_with_the_deployment_config() -> None:
    """The Job migrates with `gateway init` on the same config, store and key as the replicas."""
    job, server = container("Job"), container("Deployment")
    assert job["image"] == server["image"]
    assert job["volumeMounts"][0]["mountPath"] == server["volumeMounts"][0]["mountPath"]
    job_env, server_env = kubernetes_env(job), kubernetes_env(server)
    for name, value in server_env.items():
        assert job_env[name] == value, name
    assert job["command"] == ["sh", "-c"]
    (script,) = job["args"]
    check_shell_syntax(script)
    feed, _, command = script.partition("|")
    # SECURITY: the root password goes in on stdin, never on a command line or to a log.
    assert "$ROOT_PASSWORD" in feed and "ROOT_PASSWORD" in job_env
    words = shlex.split(command)
    assert words[0] == "gateway"
    args = build_parser().parse_args(words[1:])
    assert args.command == "init" and args.root_password_stdin
    assert args.config == server["args"][-1]


def test_secret_placeholder_is_refused_as_a_master_key() -> None:
    """Applying the example Secret unchanged cannot start a gateway with a guessable key."""
    placeholder = manifest("Secret")["stringData"]["master-key"]
    with pytest.raises(ConfigError, match="base64"):
        settings_from_mapping({}, environ={"GATEWAY_MASTER_KEY": placeholder})
    for spec in (container("Deployment"), container("Job")):
        refs = [item["valueFrom"]["secretKeyRef"] for item in spec["env"] if "valueFrom" in item]
        assert refs
        for ref in refs:
            assert ref["name"] == "gateway-secrets"
            assert ref["key"] in manifest("Secret")["stringData"]


def test_compose_config_loads_with_the_compose_environment() -> None:
    """compose-gateway.toml plus a replica's variables are valid settings on compose's postgres."""
    services = compose()["services"]
    replica = services["gateway-1"]
    env = {**image_env(), **service_env(replica, FAKE_SECRETS)}
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in replica["volumes"]}
    config_path = mounts[env[CONFIG_ENV_VAR]]
    assert (DEPLOY / config_path).resolve() == COMPOSE_CONFIG
    settings = load_config(COMPOSE_CONFIG, environ=env)
    assert settings.store.kind == "postgresql"
    store_host = urlsplit(settings.store.dsn.reveal()).hostname
    assert store_host in services
    assert settings.secrets.master_key is not None
    # The upstream is the compose service that runs the demo object store, on its port.
    (upstream,) = settings.upstreams
    target = urlsplit(upstream.url)
    assert target.hostname in services
    assert f"'0.0.0.0', {target.port}" in " ".join(services[target.hostname]["command"])
    # Only the load balancer's fixed address is believed for X-Forwarded-For.
    lb_address = services["lb"]["networks"]["default"]["ipv4_address"]
    assert settings.server.trusted_proxies == (lb_address,)
    (subnet,) = compose()["networks"]["default"]["ipam"]["config"]
    assert lb_address.startswith(subnet["subnet"].rsplit(".", 1)[0] + ".")


def test_compose_requires_every_secret_and_bakes_none_in() -> None:
    """The master key and passwords come from the environment, required, with no default."""
    for name, service in compose()["services"].items():
        for variable, value in service.get("environment", {}).items():
            text = str(value)
            if any(word in variable for word in ("KEY", "PASSWORD", "STORE_URL")):
                assert ":?" in text, f"{name}: {variable} must be required, not defaulted"
    with pytest.raises(MissingVariable, match="GATEWAY_MASTER_KEY"):
        service_env(compose()["services"]["gateway-1"], {"POSTGRES_PASSWORD": "x"})
    for keyword, arguments in dockerfile_instructions():
        assert "MASTER_KEY" not in arguments or keyword not in ("ENV", "ARG"), arguments


def test_compose_start_order_and_health_checks() -> None:
    """Replicas wait for a healthy database and a finished init; the balancer for the replicas."""
    services = compose()["services"]
    assert {"postgres", "init", "gateway-1", "gateway-2", "upstream", "lb"} <= services.keys()
    for name in ("gateway-1", "gateway-2"):
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["init"]["condition"] == "service_completed_successfully"
        assert services["lb"]["depends_on"][name]["condition"] == "service_healthy"
    assert services["init"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["init"]["restart"] == "no"
    for name, service in services.items():
        if name != "init":
            assert service["healthcheck"]["test"][0] == "CMD", name


def test_compose_init_gives_the_root_password_on_stdin() -> None:
    """The init service runs `gateway init --root-password-stdin` with the replicas' config."""
    init = compose()["services"]["init"]
    env = service_env(init, FAKE_SECRETS)
    assert init["entrypoint"] == ["sh", "-c"]
    (script,) = init["command"]
    script = interpolate(script, env)
    check_shell_syntax(script)
    feed, _, command = script.partition("|")
    assert "$ROOT_PASSWORD" in feed and "ROOT_PASSWORD" in env
    args = build_parser().parse_args(shlex.split(command)[1:])
    assert args.command == "init" and args.root_password_stdin
    assert args.config == env[CONFIG_ENV_VAR]


def test_compose_python_snippets_compile() -> None:
    """The healthchecks and the demo upstream's command are valid Python."""
    snippets = [" ".join(compose()["services"]["upstream"]["command"])]
    for service in compose()["services"].values():
        test = service.get("healthcheck", {}).get("test", [])
        if test[1:2] == ["python"]:
            snippets.append(test[-1])
    healthcheck = [arguments for keyword, arguments in final_stage() if keyword == "HEALTHCHECK"]
    snippets.append(json.loads(healthcheck[0].partition("CMD ")[2])[-1])
    assert len(snippets) >= 5
    for snippet in snippets:
        compile(snippet, "<deploy>", "exec")


def test_compose_mounts_exist() -> None:
    """Every file compose mounts is in the repository."""
    for service in compose()["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).is_file(), source


# --- ports and probes agree ----------------------------------------------------------------------


def test_ports_agree_everywhere(tmp_path: Path) -> None:
    """Dockerfile EXPOSE, configs, compose, nginx, the Deployment, probes and Service: one port."""
    port = image_port()
    assert int(image_env()["GATEWAY_SERVER_PORT"]) == port
    assert kubernetes_settings(tmp_path).server.port == port
    assert tomllib.loads(configmap_toml())["server"]["port"] == port
    env = {**image_env(), **service_env(compose()["services"]["gateway-1"], FAKE_SECRETS)}
    assert load_config(COMPOSE_CONFIG, environ=env).server.port == port
    spec = container("Deployment")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container_port(spec, spec[probe]["httpGet"]["port"]) == port, probe
    (service_port,) = manifest("Service")["spec"]["ports"]
    assert container_port(spec, service_port["targetPort"]) == port
    for name in ("gateway-1", "gateway-2"):
        url = compose()["services"][name]["healthcheck"]["test"][-1]
        assert f"127.0.0.1:{port}/" in url
    nginx = NGINX_CONF.read_text(encoding="utf-8")
    servers = re.findall(r"^\s*server\s+([\w.-]+):(\d+)", nginx, re.MULTILINE)
    assert sorted(servers) == [("gateway-1", str(port)), ("gateway-2", str(port))]
    (published,) = compose()["services"]["lb"]["ports"]
    listen = re.search(r"^\s*listen\s+(\d+);", nginx, re.MULTILINE)
    assert listen is not None and published.rsplit(":", 1)[1] == listen.group(1)


def test_metrics_port_agrees_with_the_scrape_annotations(tmp_path: Path) -> None:
    """Metrics are on: their own listener's port is the container's and the annotations' port."""
    metrics = kubernetes_settings(tmp_path).metrics
    assert metrics.enabled and metrics.listen is not None
    spec = container("Deployment")
    assert container_port(spec, "metrics") == metrics.listen[1]
    annotations = manifest("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(metrics.listen[1])
    (service_port,) = manifest("Service")["spec"]["ports"]
    assert service_port["targetPort"] != "metrics", "metrics stay inside the cluster"


def probe_paths() -> set[str]:
    spec = container("Deployment")
    paths = {spec[probe]["httpGet"]["path"] for probe in ("livenessProbe", "startupProbe")}
    paths.add(spec["readinessProbe"]["httpGet"]["path"])
    for service in compose()["services"].values():
        test = service.get("healthcheck", {}).get("test", [])
        paths |= set(re.findall(r"/_gateway/\w+", " ".join(test)))
    for keyword, arguments in final_stage():
        if keyword == "HEALTHCHECK":
            paths |= set(re.findall(r"/_gateway/\w+", arguments))
    return paths


def test_probes_check_liveness_and_readiness() -> None:
    """Liveness probes /_gateway/health (no store), readiness /_gateway/ready (store, schema)."""
    spec = container("Deployment")
    assert spec["livenessProbe"]["httpGet"]["path"] == HEALTH
    assert spec["startupProbe"]["httpGet"]["path"] == HEALTH
    assert spec["readinessProbe"]["httpGet"]["path"] == READY
    assert probe_paths() == {HEALTH, READY}


@pytest.mark.anyio
async def test_probe_paths_answer_on_a_started_gateway(tmp_path: Path) -> None:
    """Every path a probe or healthcheck calls answers 200 on a gateway run from the ConfigMap."""
    from gateway.app import create_app
    from gateway.store import open_store

    db = tmp_path / "gateway.db"
    store = await open_store(sqlite_path=db)
    try:
        await store.migrate()
    finally:
        await store.close()
    # The ConfigMap's metrics listener, moved to a free loopback port for the test.
    metrics_port = free_port()
    settings = kubernetes_settings(
        tmp_path,
        GATEWAY_STORE_URL=f"sqlite:///{db}",
        GATEWAY_METRICS_LISTEN=f"127.0.0.1:{metrics_port}",
    )
    app = create_app(settings)
    inbox: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    lifespan = asyncio.create_task(app({"type": "lifespan"}, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    assert (await asyncio.wait_for(outbox.get(), 10))["type"] == "lifespan.startup.complete"
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            for path in sorted(probe_paths()):
                response = await client.get(path)
                assert response.status_code == 200, path
            assert (await client.get("/_gateway/not-a-probe")).status_code == 404
        reader, writer = await asyncio.open_connection("127.0.0.1", metrics_port)
        writer.write(b"GET /metrics HTTP/1.1\r\nHost: scraper\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        await writer.wait_closed()
        assert answer.startswith(b"HTTP/1.1 200 "), answer[:40]
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        assert (await asyncio.wait_for(outbox.get(), 10))["type"] == "lifespan.shutdown.complete"
        await lifespan


# --- Kubernetes hardening and wiring -------------------------------------------------------------


def test_deployment_is_hardened_and_drains_gracefully(tmp_path: Path) -> None:
    """Non-root, read-only, bounded; SIGTERM only after endpoint removal, with time to drain."""
    deployment = manifest("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    spec = container("Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    (user,) = [arguments for keyword, arguments in final_stage() if keyword == "USER"]
    assert str(pod["securityContext"]["runAsUser"]) == user.split(":")[0], "the image's user"
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    # Service links would set GATEWAY_<SERVICE>_PORT variables, which look like overrides.
    assert pod["enableServiceLinks"] is False
    hardening = spec["securityContext"]
    assert hardening["readOnlyRootFilesystem"] is True
    assert hardening["allowPrivilegeEscalation"] is False
    assert hardening["capabilities"]["drop"] == ["ALL"]
    assert {"cpu", "memory"} <= spec["resources"]["requests"].keys()
    assert "memory" in spec["resources"]["limits"]
    assert "/tmp" in {mount["mountPath"] for mount in spec["volumeMounts"]}
    pre_stop = spec["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    grace = kubernetes_settings(tmp_path).server.shutdown_grace_seconds
    assert pod["terminationGracePeriodSeconds"] > float(pre_stop[1]) + grace


def test_job_is_hardened_like_the_replicas() -> None:
    """The migration Job runs non-root on a read-only root filesystem, and runs once."""
    job = manifest("Job")
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["enableServiceLinks"] is False
    assert container("Job")["securityContext"]["readOnlyRootFilesystem"] is True


def test_service_and_disruption_budget_select_the_replicas_only() -> None:
    """Service and PodDisruptionBudget select the Deployment's pods, not the migration Job's."""
    pod_labels = manifest("Deployment")["spec"]["template"]["metadata"]["labels"]
    job_labels = manifest("Job")["spec"]["template"]["metadata"]["labels"]
    service_selector = manifest("Service")["spec"]["selector"]
    budget = manifest("PodDisruptionBudget")["spec"]
    for selector in (service_selector, budget["selector"]["matchLabels"]):
        assert selector.items() <= pod_labels.items()
        assert not selector.items() <= job_labels.items()
    assert budget["minAvailable"] < manifest("Deployment")["spec"]["replicas"]


# --- the image -----------------------------------------------------------------------------------


def test_dockerfile_builds_in_two_stages_and_runs_slim_as_non_root() -> None:
    """A builder stage makes wheels; the final slim stage installs only them, as a non-root user."""
    stages = [arguments for keyword, arguments in dockerfile_instructions() if keyword == "FROM"]
    assert len(stages) == 2 and stages[0].endswith(" AS builder")
    final = final_stage()
    assert "-slim" in final[0][1]
    (user,) = [arguments for keyword, arguments in final if keyword == "USER"]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "a numeric uid lets runAsNonRoot check it"
    runs = " ".join(arguments for keyword, arguments in final if keyword == "RUN")
    for tool in ("apt-get install", "build-essential", "gcc", "make ", "pip wheel", "curl"):
        assert tool not in runs, f"the final stage must not install {tool}"
    assert "--no-index" in runs and "from=builder" in runs
    assert not [arguments for keyword, arguments in final if keyword in ("COPY", "ADD")]


def test_dockerfile_entrypoint_command_and_healthcheck() -> None:
    """`gateway serve --config` on the config path from the environment, health via urllib."""
    final = dict(final_stage())
    assert json.loads(final["ENTRYPOINT"]) == ["gateway"]
    command = json.loads(final["CMD"])
    args = build_parser().parse_args(command)
    assert args.command == "serve"
    assert args.config == image_env()[CONFIG_ENV_VAR]
    check = json.loads(final["HEALTHCHECK"].partition("CMD ")[2])
    assert check[:2] == ["python", "-c"] and "urllib.request" in check[2]
    assert HEALTH in check[2] and "GATEWAY_SERVER_PORT" in check[2]


def _pattern(glob: str) -> re.Pattern[str]:
    # .dockerignore globs: `*` and `?` stay within a path segment, `**` crosses them.
    parts = re.split(r"(\*\*/|\*\*|\*|\?)", glob.strip("/"))
    wildcards = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
    return re.compile("".join(wildcards.get(part, re.escape(part)) for part in parts))


def _ignored(path: str, patterns: list[str]) -> bool:
    # Docker's rule: the last pattern matching the path or one of its parents decides.
    parts = path.split("/")
    candidates = ["/".join(parts[: index + 1]) for index in range(len(parts))]
    ignored = False
    for pattern in patterns:
        glob = pattern.removeprefix("!")
        if any(_pattern(glob).fullmatch(candidate) for candidate in candidates):
            ignored = not pattern.startswith("!")
    return ignored


def test_dockerignore_keeps_local_state_out_of_the_build_context() -> None:
    """Only the sources the wheel is built from are sent: never keys, .env, var/ or .git."""
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"
    for secret in (
        "var/master.key",
        "var/demo/gateway.db",
        ".env",
        "deploy/.env",
        "gateway.toml",
        ".git/config",
        ".venv/bin/python",
        "gateway/__pycache__/app.cpython-311.pyc",
    ):
        assert _ignored(secret, patterns), secret
    for keyword, arguments in dockerfile_instructions():
        if keyword == "COPY" and "--from" not in arguments:
            for source in arguments.split()[:-1]:
                assert not _ignored(source.rstrip("/"), patterns), source
                assert (ROOT / source).exists(), source
    assert not _ignored("gateway/store/migrations/0001_initial.sql", patterns)


# --- nginx ---------------------------------------------------------------------------------------


def test_nginx_forwards_requests_unchanged_and_sets_the_client_address() -> None:
    """nginx passes the path and Host as sent (SigV4 signs both) and overwrites X-Forwarded-For."""
    nginx = NGINX_CONF.read_text(encoding="utf-8")
    (proxy_pass,) = re.findall(r"proxy_pass\s+([^;]+);", nginx)
    assert proxy_pass == "http://gateways", "no URI part: the request target is not rewritten"
    assert re.search(r"proxy_set_header\s+Host\s+\$http_host;", nginx)
    # SECURITY: the client's own X-Forwarded-For must not pass; the gateway believes this one.
    assert re.search(r"proxy_set_header\s+X-Forwarded-For\s+\$remote_addr;", nginx)
    assert "$proxy_add_x_forwarded_for" not in nginx
    assert re.search(r"^\s*access_log\s+off;", nginx, re.MULTILINE)
    assert re.search(r"proxy_request_buffering\s+off;", nginx)


# --- systemd -------------------------------------------------------------------------------------


def unit_settings() -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


def test_systemd_unit_is_hardened_and_drains_gracefully() -> None:
    """The unit runs `gateway serve` unprivileged, sandboxed, with time to drain on stop."""
    unit = unit_settings()
    assert unit["User"] == ["gateway"]
    command = shlex.split(unit["ExecStart"][0])
    assert Path(command[0]).name == "gateway"
    assert build_parser().parse_args(command[1:]).command == "serve"
    assert unit["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert float(unit["TimeoutStopSec"][0]) > DEFAULT_SHUTDOWN_GRACE_SECONDS
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "MemoryDenyWriteExecute": "yes",
        "CapabilityBoundingSet": "",
        "UMask": "0077",
    }.items():
        assert unit[key] == [value], key


SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed here")
def test_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """`systemd-analyze verify` accepts the unit, warning about nothing."""
    assert SYSTEMD_ANALYZE is not None
    root = tmp_path / "root"
    system = next(
        path
        for path in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))
        if path.is_dir()
    )
    # verify checks that every command exists: the host's units, plus stand-ins for the
    # commands of an installed gateway, under an alternate root.
    shutil.copytree(system, root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    shutil.copy(UNIT, root / "etc/systemd/system" / UNIT.name)
    for key, values in unit_settings().items():
        if key.startswith("Exec"):
            for value in values:
                executable = root / shlex.split(value)[0].lstrip("-@+!:").lstrip("/")
                executable.parent.mkdir(parents=True, exist_ok=True)
                executable.write_text("#!/bin/sh\n", encoding="ascii")
                executable.chmod(0o755)
    result = subprocess.run(  # noqa: S603 - fixed argv on our own unit file
        [SYSTEMD_ANALYZE, "verify", f"--root={root}", UNIT.name],
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert UNIT.name not in output, output


# --- docs ----------------------------------------------------------------------------------------


def test_deploy_readme_covers_every_file() -> None:
    """deploy/README.md explains each file, key rotation and upgrades."""
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    files = [
        path.relative_to(DEPLOY).as_posix()
        for path in DEPLOY.rglob("*")
        if path.is_file() and path.name not in ("README.md", ".gitignore", ".env")
    ]
    assert len(files) >= 12
    for name in files:
        assert name in readme, f"deploy/README.md does not mention {name}"
    for topic in ("## Rotating the master key", "## Upgrades"):
        assert topic in readme
