"""The Kubernetes files (deploy/Dockerfile, deploy/helm/values.yaml, deploy/kubernetes.md) agree with the code.

Nothing here builds the image or installs the chart (no Docker daemon, no Kubernetes in CI). These checks keep
the files consistent with what is tested elsewhere: the settings the pipeline reads (`dsar_pipeline.settings`,
the resources of `assets.environments`), the Celery workers' queue (`assets.celery_workers`), the code location
(`workspace.yaml`), the production instance (`deploy/dagster.yaml`), the install (`Makefile`, `pyproject.toml`)
and the e-seal's permission check (`dsar_pipeline.sealing.keys.private_file_problem`).
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.specifiers import SpecifierSet

from dsar_pipeline.settings import (
    DEFAULTS,
    OWN_SETTINGS,
    PRODUCTION_OWN_SECRETS,
    PRODUCTION_REQUIRED,
    SETTINGS,
)

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "deploy" / "Dockerfile"
VALUES = REPO / "deploy" / "helm" / "values.yaml"
GUIDE = REPO / "deploy" / "kubernetes.md"
INSTANCE = REPO / "deploy" / "dagster.yaml"

SETTINGS_CONFIGMAP = "dsar-settings"
SECRETS = "dsar-secrets"
WORKERS = "dsar-celery-workers"
SECRET_WORDS = ("SECRET", "KEY", "PASSWORD", "TOKEN")
CREDENTIAL_URLS = frozenset({"DSAR_AUDIT_DATABASE_URL", "DSAR_BILLING_DATABASE_URL", "DSAR_CELERY_BROKER",
                             "DSAR_CELERY_BACKEND"})
"""Settings whose value is a URL that carries a password."""
NOT_IN_IMAGE = ("tests", "bench", "sandbox", "harness", ".venv", ".dagster_home", "out", ".cluster", ".sandbox")
USERINFO_PASSWORD = re.compile(r"://[^/\s:@]*:[^/\s@]+@")
ANY_HOST = "0.0.0.0"  # noqa: S104 (an argument the chart and the image pass on; nothing binds here)


def secret_like(name: str) -> bool:
    """A name that holds a secret: a credential URL, or SECRET/KEY/PASSWORD/TOKEN in it (endpoints, `*_URL`
    such as the token endpoints, are not secrets)."""
    return name in CREDENTIAL_URLS or (any(word in name for word in SECRET_WORDS) and not name.endswith("_URL"))


# -- the files, read once ---------------------------------------------------------------------------------

@cache
def values() -> dict[str, Any]:
    loaded = yaml.safe_load(VALUES.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def manifest(kind: str, name: str) -> dict[str, Any]:
    found = [m for m in values()["extraManifests"] if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(found) == 1, f"extraManifests: expected one {kind} {name}"
    return found[0]


def settings_data() -> dict[str, str]:
    return manifest("ConfigMap", SETTINGS_CONFIGMAP)["data"]


def code_location() -> dict[str, Any]:
    [deployment] = values()["dagster-user-deployments"]["deployments"]
    return deployment


def worker_pod() -> dict[str, Any]:
    return manifest("Deployment", WORKERS)["spec"]["template"]["spec"]


def worker_container() -> dict[str, Any]:
    [container] = worker_pod()["containers"]
    return container


def k8s_run_launcher() -> dict[str, Any]:
    return values()["runLauncher"]["config"]["k8sRunLauncher"]


@cache
def secret_table() -> list[tuple[str, str, str]]:
    """(secret, key, required) for each row of the secrets table in deploy/kubernetes.md."""
    rows = []
    for line in GUIDE.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 4 and cells[2] in ("yes", "no"):
            rows.append((cells[0], cells[1], cells[2]))
    return rows


def secret_keys(secret: str, *, required_only: bool = False) -> set[str]:
    return {key for name, key, required in secret_table()
            if name == secret and (required == "yes" or not required_only)}


@cache
def dockerfile() -> list[tuple[str, str, dict[str, str]]]:
    """(INSTRUCTION, arguments, heredocs by target) per instruction; continuations joined, comments dropped."""
    instructions: list[tuple[str, str, dict[str, str]]] = []
    lines = DOCKERFILE.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        while line.endswith("\\") and index < len(lines):
            line = line[:-1] + " " + lines[index].strip()
            index += 1
        keyword, _, arguments = line.strip().partition(" ")
        heredocs = {}
        if match := re.search(r"<<-?'?(\w+)'?\s+(\S+)", arguments):
            terminator, target = match.groups()
            body = []
            while lines[index] != terminator:
                body.append(lines[index])
                index += 1
            index += 1
            heredocs[target] = "\n".join(body) + "\n"
        instructions.append((keyword.upper(), arguments.strip(), heredocs))
    return instructions


def heredoc(target: str) -> str:
    [body] = [docs[target] for _, _, docs in dockerfile() if target in docs]
    return body


def final_stage() -> list[tuple[str, str, dict[str, str]]]:
    starts = [i for i, (keyword, _, _) in enumerate(dockerfile()) if keyword == "FROM"]
    return dockerfile()[starts[-1]:]


@cache
def pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def pin(distribution: str) -> str:
    [version] = [dep.split("==", 1)[1] for dep in pyproject()["project"]["dependencies"]
                 if dep.split("==", 1)[0].strip() == distribution]
    return version


def image_uid() -> int:
    users = [arguments for keyword, arguments, _ in final_stage() if keyword == "USER"]
    assert users, "the image sets no USER: it would run as root"
    return int(users[-1].split(":")[0])


def workspace_location() -> dict[str, Any]:
    [entry] = yaml.safe_load((REPO / "workspace.yaml").read_text(encoding="utf-8"))["load_from"]
    return entry["python_module"]


def walk(node: Any, path: str = "") -> Any:
    """Every (path, mapping) in a YAML tree."""
    if isinstance(node, dict):
        yield path, node
        for key, child in node.items():
            yield from walk(child, f"{path}.{key}")
    elif isinstance(node, list):
        for position, child in enumerate(node):
            yield from walk(child, f"{path}[{position}]")


def strings(node: Any) -> Any:
    if isinstance(node, dict):
        for child in node.values():
            yield from strings(child)
    elif isinstance(node, list):
        for child in node:
            yield from strings(child)
    elif isinstance(node, str):
        yield node


def names(refs: list[dict[str, Any]] | None) -> set[str]:
    return {ref["name"] for ref in refs or []}


@cache
def resource_env_vars() -> frozenset[str]:
    """The settings the production resources read with `dg.EnvVar` (each must exist when a step runs)."""
    import dagster as dg
    import pydantic

    from assets.environments import resources

    found: set[str] = set()

    def visit(value: Any) -> None:
        if isinstance(value, dg.EnvVar):
            found.add(str(value.env_var_name))
        elif isinstance(value, pydantic.BaseModel):
            for field in type(value).model_fields:
                visit(getattr(value, field, None))
        elif isinstance(value, dict):
            for child in value.values():
                visit(child)
        elif isinstance(value, list | tuple):
            for child in value:
                visit(child)

    for resource in resources("production").values():
        visit(resource)
    assert found, "no dg.EnvVar found in the production resources: the walk no longer sees them"
    return frozenset(found)


# -- the chart and the instance ---------------------------------------------------------------------------

def test_the_values_are_for_the_chart_of_the_pinned_dagster_release() -> None:
    release = pin("dagster")
    assert isinstance(values(), dict)
    assert f"--version {release}" in VALUES.read_text(encoding="utf-8")
    assert f"--version {release}" in GUIDE.read_text(encoding="utf-8")
    assert "-f deploy/helm/values.yaml" in GUIDE.read_text(encoding="utf-8")


def test_services_are_external_and_their_passwords_come_from_secrets() -> None:
    chart = values()
    assert chart["postgresql"]["enabled"] is False
    assert chart["postgresql"]["postgresqlPassword"] == ""
    assert chart["generatePostgresqlPasswordSecret"] is False
    assert chart["generateCeleryConfigSecret"] is False
    assert chart["rabbitmq"]["enabled"] is False
    assert chart["redis"]["enabled"] is False and chart["redis"]["internal"] is False
    assert chart["runLauncher"]["type"] == "K8sRunLauncher"
    pg_secret = chart["global"]["postgresqlSecretName"]
    assert (pg_secret, "postgresql-password", "yes") in secret_table()
    [password] = [e for e in worker_container()["env"] if e["name"] == "DAGSTER_PG_PASSWORD"]
    assert password["valueFrom"]["secretKeyRef"] == {"name": pg_secret, "key": "postgresql-password"}


def test_the_instance_is_the_one_of_deploy_dagster_yaml() -> None:
    instance = yaml.safe_load(INSTANCE.read_text(encoding="utf-8"))
    chart = values()
    daemon = chart["dagsterDaemon"]

    assert instance["compute_logs"]["class"] == "NoOpComputeLogManager"
    assert chart["computeLogManager"]["type"] == "NoOpComputeLogManager"
    assert chart["telemetry"]["enabled"] is instance["telemetry"]["enabled"] is False
    assert chart["postgresql"]["postgresqlScheme"] == instance["storage"]["postgres"]["postgres_db"]["scheme"]

    # The chart writes a CustomRunCoordinator's module, class and config as they are: deploy/dagster.yaml's.
    coordinator = daemon["runCoordinator"]
    assert coordinator["enabled"] is True and coordinator["type"] == "CustomRunCoordinator"
    assert coordinator["config"]["customRunCoordinator"] == instance["run_coordinator"]
    assert instance["run_coordinator"]["class"] == "QueuedRunCoordinator"
    # run limits there as well as in `concurrency` make Dagster refuse the instance
    for field in ("max_concurrent_runs", "tag_concurrency_limits", "block_op_concurrency_limited_runs"):
        assert field not in instance["run_coordinator"].get("config", {}), field

    concurrency = chart["concurrency"]
    assert concurrency["enabled"] is True
    runs, pools = instance["concurrency"]["runs"], instance["concurrency"]["pools"]
    assert concurrency["runs"]["maxConcurrentRuns"] == runs["max_concurrent_runs"]
    assert concurrency["runs"]["tagConcurrencyLimits"] == runs["tag_concurrency_limits"]
    assert concurrency["pools"] == {"defaultLimit": pools["default_limit"], "granularity": pools["granularity"]}

    monitoring = daemon["runMonitoring"]
    assert {"enabled": monitoring["enabled"], "start_timeout_seconds": monitoring["startTimeoutSeconds"],
            "cancel_timeout_seconds": monitoring["cancelTimeoutSeconds"],
            "max_runtime_seconds": monitoring["maxRuntimeSeconds"],
            "poll_interval_seconds": monitoring["pollIntervalSeconds"]} == instance["run_monitoring"]
    retries = daemon["runRetries"]
    assert {"enabled": retries["enabled"], "max_retries": retries["maxRetries"],
            "retry_on_asset_or_op_failure": retries["retryOnAssetOrOpFailure"]} == instance["run_retries"]


def test_batch_runs_equal_the_batch_size_run_limit() -> None:
    [limit] = [entry["limit"] for entry in values()["concurrency"]["runs"]["tagConcurrencyLimits"]
               if entry["key"] == "dsar/batch_size"]
    assert int(settings_data().get("DSAR_BATCH_RUNS", DEFAULTS["DSAR_BATCH_RUNS"])) == limit


# -- settings and secrets ---------------------------------------------------------------------------------

def test_every_dsar_name_is_a_documented_setting() -> None:
    documented = set(SETTINGS) | set(OWN_SETTINGS)
    for path in (VALUES, DOCKERFILE, GUIDE):
        used = set(re.findall(r"\bDSAR_[A-Z0-9_]*[A-Z0-9]\b", path.read_text(encoding="utf-8")))
        assert used, path
        assert used <= documented, f"{path.name}: not in dsar_pipeline.settings: {sorted(used - documented)}"


def test_production_runs_on_every_dsar_process() -> None:
    assert settings_data()["DSAR_ENV"] == "production"


@pytest.mark.parametrize("process", ["code location", "run pods", "Celery workers"])
def test_every_dsar_process_gets_the_settings_and_the_secrets(process: str) -> None:
    location = code_location()
    sources = {
        "code location": (names(location["envConfigMaps"]), names(location["envSecrets"])),
        "run pods": (names(k8s_run_launcher()["envConfigMaps"]), names(k8s_run_launcher()["envSecrets"])),
        "Celery workers": ({ref["configMapRef"]["name"] for ref in worker_container()["envFrom"]
                            if "configMapRef" in ref},
                           {ref["secretRef"]["name"] for ref in worker_container()["envFrom"] if "secretRef" in ref}),
    }
    config_maps, secrets = sources[process]
    assert SETTINGS_CONFIGMAP in config_maps
    assert SECRETS in secrets
    # the run pods also get the code location's volumes (the e-seal) and settings through the chart
    assert location["includeConfigInLaunchedRuns"]["enabled"] is True


def test_what_production_needs_is_provided_and_secrets_only_by_secrets() -> None:
    data = settings_data()
    secret = secret_keys(SECRETS)
    required_secret = secret_keys(SECRETS, required_only=True)
    needed = (set(PRODUCTION_REQUIRED) | set(PRODUCTION_OWN_SECRETS) | {"DSAR_CELERY_BROKER", "DSAR_CELERY_BACKEND"}
              | (resource_env_vars() - set(DEFAULTS)))
    missing = sorted(name for name in needed if name not in data and name not in required_secret)
    assert not missing, f"neither in {SETTINGS_CONFIGMAP} nor a required key of {SECRETS}: {missing}"
    literal_secrets = sorted(name for name in data if secret_like(name))
    assert not literal_secrets, f"secrets as literal values in {SETTINGS_CONFIGMAP}: {literal_secrets}"
    for name in needed | secret:
        if secret_like(name):
            assert name in secret, f"{name} belongs in {SECRETS} (deploy/kubernetes.md)"
    assert not (secret & set(data)), "a setting both in the ConfigMap and the secret"


def test_no_literal_in_the_values_looks_like_a_secret() -> None:
    for path, mapping in walk(values()):
        name = mapping.get("name")
        if isinstance(name, str) and "value" in mapping and secret_like(name.upper()):
            pytest.fail(f"{path}: {name} has a literal value; take it from a secret (secretKeyRef)")
    for text in strings(values()):
        assert not USERINFO_PASSWORD.search(text), f"a URL with a password in the values: {text[:40]}…"


def test_every_secret_and_configmap_the_pods_use_is_in_the_guide() -> None:
    documented_secrets = {name for name, _, _ in secret_table()}
    guide = GUIDE.read_text(encoding="utf-8")
    used_secrets, used_configmaps = {values()["global"]["postgresqlSecretName"]}, set()
    for _, mapping in walk(values()):
        if "secretName" in mapping:
            used_secrets.add(mapping["secretName"])
        for key in ("secretKeyRef", "secretRef"):
            if isinstance(mapping.get(key), dict):
                used_secrets.add(mapping[key]["name"])
        for key in ("configMap", "configMapRef"):
            if isinstance(mapping.get(key), dict):
                used_configmaps.add(mapping[key]["name"])
    used_secrets |= names(code_location()["envSecrets"]) | names(k8s_run_launcher()["envSecrets"])
    assert used_secrets <= documented_secrets, sorted(used_secrets - documented_secrets)
    for configmap in used_configmaps - {SETTINGS_CONFIGMAP}:
        assert f"create configmap {configmap}" in guide, configmap


# -- the processes: code location, workers, webserver ----------------------------------------------------

def test_the_code_location_serves_assets_definitions() -> None:
    workspace = workspace_location()
    location = code_location()
    assert location["codeServerArgs"] == ["-m", workspace["module_name"], "-a", workspace["attribute"]]
    server = {"host": location["name"], "port": location["port"], "name": workspace["location_name"]}
    assert values()["dagsterWebserver"]["workspace"] == {"enabled": True, "servers": [server]}
    [command] = [arguments for keyword, arguments, _ in final_stage() if keyword == "CMD"]
    assert yaml.safe_load(command) == ["dagster", "code-server", "start", "-m", workspace["module_name"],
                                       "-a", workspace["attribute"], "-h", ANY_HOST, "-p", str(location["port"])]


def test_the_celery_workers_are_the_tested_ones() -> None:
    from assets.celery_workers import QUEUE

    args = worker_container()["args"]
    assert "command" not in worker_container(), "a command would skip the image's entry point"
    assert args[:4] == ["celery", "-A", "assets.celery_workers", "worker"]
    assert args[args.index("-Q") + 1] == QUEUE
    assert {entry["name"]: entry.get("value") for entry in worker_container()["env"]}["DAGSTER_HOME"] == \
        values()["global"]["dagsterHome"]


def test_one_image_everywhere() -> None:
    chart = values()
    images = {f"{part['image']['repository']}:{part['image']['tag']}"
              for part in (chart["dagsterDaemon"], chart["dagsterWebserver"], code_location())}
    images.add(worker_container()["image"])
    assert len(images) == 1, images
    assert ":latest" not in next(iter(images))


def test_workers_mount_what_the_code_location_mounts() -> None:
    location = code_location()
    assert worker_container()["volumeMounts"] == location["volumeMounts"]
    assert worker_pod()["volumes"] == location["volumes"]
    assert worker_pod()["securityContext"] == location["podSecurityContext"]
    assert worker_container()["securityContext"] == location["securityContext"]


def test_every_pod_runs_as_the_image_user_without_root() -> None:
    chart, uid = values(), image_uid()
    assert uid != 0
    pods = {"daemon": chart["dagsterDaemon"]["podSecurityContext"],
            "webserver": chart["dagsterWebserver"]["podSecurityContext"],
            "code location": code_location()["podSecurityContext"], "workers": worker_pod()["securityContext"]}
    for part, pod in pods.items():
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] == uid, part
        # fsGroup makes the 0440 e-seal secret readable by the pipeline's user
        assert pod["fsGroup"] == pod["runAsGroup"], part
    run_pod = k8s_run_launcher()["runK8sConfig"]["podSpecConfig"]["security_context"]
    assert run_pod["run_as_non_root"] is True and run_pod["run_as_user"] == uid
    assert run_pod["fs_group"] == run_pod["run_as_group"]
    containers = (chart["dagsterDaemon"]["securityContext"], chart["dagsterWebserver"]["securityContext"],
                  code_location()["securityContext"], worker_container()["securityContext"])
    assert all(container["allowPrivilegeEscalation"] is False for container in containers)
    assert k8s_run_launcher()["runK8sConfig"]["containerConfig"]["security_context"][
        "allow_privilege_escalation"] is False


def test_the_webserver_is_the_identity_middleware_with_the_charts_arguments(tmp_path: Path) -> None:
    """The chart runs `dagster-webserver -h 0.0.0.0 -p <port> -w /dagster-workspace/workspace.yaml`; in the
    image that is `python -m assets.webserver_identity` with the proxy's header, which takes those options."""
    webserver = values()["dagsterWebserver"]
    for flag_setting in ("pathPrefix", "dbStatementTimeout", "dbPoolRecycle", "logLevel"):
        assert not webserver.get(flag_setting), f"{flag_setting} adds an option assets.webserver_identity lacks"
    assert not webserver.get("enableReadOnly")
    assert SETTINGS_CONFIGMAP in names(webserver["envConfigMaps"])
    source = (REPO / "assets" / "webserver_identity.py").read_text(encoding="utf-8")
    for option in ('"--identity-header"', '"-w"', '"-h"', '"-p"'):
        assert option in source, option

    shim = tmp_path / "dagster-webserver"
    shim.write_text(heredoc("/opt/dsar/bin/dagster-webserver"), encoding="utf-8")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "python").write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$RECORD"\n', encoding="utf-8")
    (fake / "python").chmod(0o755)
    chart_args = ["-h", ANY_HOST, "-p", str(webserver["service"]["port"]), "-w", "/dagster-workspace/workspace.yaml"]
    env = {"PATH": f"{fake}:{os.environ['PATH']}", "RECORD": str(tmp_path / "record"),
           "DSAR_DESK_IDENTITY_HEADER": settings_data()["DSAR_DESK_IDENTITY_HEADER"]}
    subprocess.run(["sh", str(shim), *chart_args], env=env, check=True, timeout=30)
    assert (tmp_path / "record").read_text(encoding="utf-8").splitlines() == [
        "-m", "assets.webserver_identity", "--identity-header", env["DSAR_DESK_IDENTITY_HEADER"], *chart_args]
    without = subprocess.run(["sh", str(shim), *chart_args], env={**env, "DSAR_DESK_IDENTITY_HEADER": ""},
                             capture_output=True, text=True, timeout=30, check=False)
    assert without.returncode != 0 and "DSAR_DESK_IDENTITY_HEADER" in without.stderr


# -- the letter e-seal -------------------------------------------------------------------------------------

def test_the_seal_secret_is_mounted_where_the_entry_point_reads_it() -> None:
    script = heredoc("/opt/dsar/bin/dsar-entrypoint")
    [source] = re.findall(r"^source_dir=(\S+)$", script, flags=re.MULTILINE)
    seal_dir = Path(settings_data()["DSAR_LETTER_SEAL_DIR"])
    for volumes, mounts in ((code_location()["volumes"], code_location()["volumeMounts"]),
                            (worker_pod()["volumes"], worker_container()["volumeMounts"])):
        by_name = {volume["name"]: volume for volume in volumes}
        [secret_mount] = [m for m in mounts if "secret" in by_name[m["name"]]]
        assert secret_mount["mountPath"] == source and secret_mount["readOnly"] is True
        secret = by_name[secret_mount["name"]]["secret"]
        assert secret["secretName"] in {name for name, _, _ in secret_table()}
        assert secret["defaultMode"] == 0o440
        # the copies land in memory: DSAR_LETTER_SEAL_DIR lies under an emptyDir of medium Memory
        [memory] = [m for m in mounts if by_name[m["name"]].get("emptyDir", {}).get("medium") == "Memory"]
        assert seal_dir.is_relative_to(memory["mountPath"]) and seal_dir != Path(memory["mountPath"])


def test_the_entry_point_copies_the_seal_as_the_pipeline_accepts_it(tmp_path: Path) -> None:
    from dsar_pipeline.sealing.keys import private_file_problem

    # a secret volume as Kubernetes writes it: files in a ..data directory, reached through symlinks
    source = tmp_path / "letter-seal"
    (source / "..data").mkdir(parents=True)
    contents = {"acme-ee.crt.pem": b"certificate\n", "acme-ee.key.pem": b"private key\n"}
    for name, content in contents.items():
        (source / "..data" / name).write_bytes(content)
        (source / "..data" / name).chmod(0o440)
        (source / name).symlink_to(Path("..data") / name)
    assert private_file_problem(os.stat(source / "acme-ee.key.pem")), "the mounted key itself is refused"

    script = tmp_path / "dsar-entrypoint"
    script.write_text(heredoc("/opt/dsar/bin/dsar-entrypoint").replace("/etc/dsar/letter-seal", str(source)),
                      encoding="utf-8")
    seal_dir = tmp_path / "run" / "letter-seal"
    marker = tmp_path / "started"
    env = {"PATH": os.environ["PATH"], "DSAR_LETTER_SEAL_DIR": str(seal_dir)}
    for _ in range(2):  # a container restart finds the copies of the first start
        subprocess.run(["sh", str(script), "sh", "-c", f'echo started > "{marker}"'], env=env, check=True,
                       timeout=30)
    assert marker.read_text(encoding="utf-8") == "started\n", "the entry point did not run its command"
    assert stat.S_IMODE(seal_dir.stat().st_mode) == 0o700
    assert sorted(path.name for path in seal_dir.iterdir()) == sorted(contents)
    for name, content in contents.items():
        copy = seal_dir / name
        assert copy.read_bytes() == content and not copy.is_symlink()
        assert stat.S_IMODE(copy.stat().st_mode) == 0o400
        assert private_file_problem(os.stat(copy)) is None


# -- the image ---------------------------------------------------------------------------------------------

def test_the_image_installs_what_make_install_installs() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    [fideslang] = re.findall(r"--no-deps\s+'?(fideslang==[\w.]+)'?", makefile)
    [packages] = re.findall(r"^PDF_PACKAGES\s*:=\s*(.+)$", makefile, flags=re.MULTILINE)
    runs = [arguments for keyword, arguments, _ in dockerfile() if keyword == "RUN"]
    assert any(re.search(rf"pip install --no-deps '?{re.escape(fideslang)}'?(\s|$)", run) for run in runs)
    assert any(re.search(r"pip install \.(\s|$)", run) for run in runs), "the product is not pip-installed"
    # dagster-k8s at the Dagster family's pin (the libraries move with dagster: README, "Pins")
    assert any(f"dagster-k8s=={pin('dagster-postgres')}" in run for run in runs)
    installs = [run for run in final_stage() if run[0] == "RUN" and "apt-get install" in run[1]]
    assert installs, "no apt-get install in the final image"
    for package in packages.split():
        assert any(re.search(rf"(\s){re.escape(package)}(\s|$)", run[1]) for run in installs), package


def test_the_image_is_python_311_and_copies_only_the_product() -> None:
    base = [arguments for keyword, arguments, _ in dockerfile() if keyword == "ARG" and "PYTHON_IMAGE=" in arguments]
    [version] = re.findall(r"python:(\d+\.\d+)", base[0])
    requires = SpecifierSet(pyproject()["project"]["requires-python"])
    assert version == "3.11" and version in requires
    packages = {pattern.rstrip("*") for pattern in pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = set()
    for keyword, arguments, docs in dockerfile():
        if keyword == "COPY" and not docs and not arguments.startswith("--from"):
            copied |= set(arguments.split()[:-1])
    assert copied == {"pyproject.toml", "README.md"} | packages, copied
    assert not copied & set(NOT_IN_IMAGE)
    home = [arguments for keyword, arguments, _ in final_stage() if keyword == "ENV" and "DAGSTER_HOME=" in arguments]
    [dagster_home] = re.findall(r"DAGSTER_HOME=(\S+)", home[0])
    assert dagster_home == values()["global"]["dagsterHome"]
    assert image_uid() != 0
