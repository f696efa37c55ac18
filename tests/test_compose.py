"""docker-compose.yml and the Dockerfile: Compose accepts the file, every Koppel service runs
a real ``koppel`` command, consumers cover every queue and can be scaled, and the image is
built from every package as a non-root user. No credential is written in the file (they come
from the environment or ``.env``, documented by ``.env.example``) and no published port is
reachable from beyond this machine.

No Docker engine is needed: ``docker-compose config`` (Debian's package, which ``.ci/run``
installs) or ``docker compose config`` only reads and resolves the file. Without either the
tests skip with one line saying what to install; CI (``KOPPEL_TESTS_STRICT=1``) fails instead.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from cryptography.fernet import Fernet

from config import Settings
from contracts import queues
from ops.cli import main
from tests.conftest import ROOT, skip_unless_strict

CONSUMERS = {"contacts", "invoices", "credit-notes", "payments"}
#: Services that may run more than once (``--scale``).
SCALABLE = {"poller", *CONSUMERS}
A_TEST_KEY = "not-a-real-key-only-for-compose-config"
#: What Compose refuses to start without, with the values the checks below give it.
SECRETS = {
    "KOPPEL_TOKEN_KEY": A_TEST_KEY,
    "POSTGRES_PASSWORD": "pgTestPassword1",
    "RABBITMQ_PASSWORD": "mqTestPassword2",
}
ENV_EXAMPLE = ROOT / ".env.example"
#: The variables this file reads; a developer's own must not change what is checked.
OWN_VARIABLES = ("KOPPEL_", "POSTGRES_", "RABBITMQ_")
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def compose_command() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker") and (
        subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        return ["docker", "compose"]
    skip_unless_strict(
        "docker-compose is not installed: `apt-get install docker-compose` (no engine needed)"
    )


def compose_config(env_file: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(OWN_VARIABLES)}
    # An empty env file instead of ./.env: a developer's own must not change what is checked.
    with tempfile.NamedTemporaryFile(suffix=".env") as no_env_file:
        return subprocess.run(
            [
                *compose_command(),
                "--file",
                str(ROOT / "docker-compose.yml"),
                "--env-file",
                str(env_file or no_env_file.name),
                "config",
            ],
            cwd=ROOT,
            env={**environment, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    result = compose_config(**SECRETS)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["services"]


def koppel_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in services.items() if s.get("image") == "koppel:latest"}


def seconds(duration: str | int | float) -> float:
    """A Compose duration ("5m30s", "330s", "1h") in seconds."""
    if isinstance(duration, int | float):
        return float(duration)
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", duration)
    assert parts, duration
    return sum(float(number) * units[unit] for number, unit in parts)


def test_compose_accepts_the_file_and_it_has_every_service(
    services: dict[str, dict[str, Any]],
) -> None:
    assert set(services) == {"postgres", "rabbitmq", "sandbox", "migrate", "webhooks", *SCALABLE}
    assert services["rabbitmq"]["image"].endswith("-management")


def test_every_koppel_service_runs_a_real_command_with_valid_options(
    services: dict[str, dict[str, Any]],
) -> None:
    parent = click.Context(main, info_name="koppel")
    for name, service in koppel_services(services).items():
        command = service["command"]
        assert isinstance(command, list) and command, name
        subcommand = main.get_command(parent, command[0])
        assert subcommand is not None, f"{name}: koppel has no command {command[0]!r}"
        # Parses every option and argument as the process would, without running it.
        subcommand.make_context(command[0], list(command[1:]), parent=parent)


def test_each_queue_has_exactly_one_consumer_service(
    services: dict[str, dict[str, Any]],
) -> None:
    consumed: list[str] = []
    for name in CONSUMERS:
        command = services[name]["command"]
        assert command[:2] == ["work", "--queues"], name
        consumed.append(command[2])
    assert sorted(consumed) == sorted(queues.ALL)


def test_scalable_services_have_no_container_name_or_host_port_and_a_healthcheck(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in SCALABLE:
        service = services[name]
        assert "container_name" not in service, name
        assert not service.get("ports"), name
        assert service["healthcheck"]["test"], name
        assert service["restart"] == "unless-stopped", name
    for name, service in services.items():
        if name != "migrate":
            assert "healthcheck" in service, name


def test_consumers_may_finish_their_longest_message_before_being_killed(
    services: dict[str, dict[str, Any]],
) -> None:
    # The default, not Settings(): a developer's KOPPEL_ACTOR_TIME_LIMIT_MS must not count.
    longest_s = Settings.model_fields["actor_time_limit_ms"].default / 1000
    for name in CONSUMERS:
        assert seconds(services[name]["stop_grace_period"]) > longest_s, name


def test_the_migration_runs_once_before_every_sync_process(
    services: dict[str, dict[str, Any]],
) -> None:
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["restart"] == "no"
    for name in SCALABLE:
        depends_on = services[name]["depends_on"]
        assert depends_on["migrate"]["condition"] == "service_completed_successfully", name
        assert depends_on["postgres"]["condition"] == "service_healthy", name
        assert depends_on["rabbitmq"]["condition"] == "service_healthy", name


def test_the_token_key_and_passwords_come_only_from_the_environment(
    services: dict[str, dict[str, Any]],
) -> None:
    postgres, rabbitmq = SECRETS["POSTGRES_PASSWORD"], SECRETS["RABBITMQ_PASSWORD"]
    for name, service in koppel_services(services).items():
        environment = service["environment"]
        assert environment["KOPPEL_TOKEN_KEY"] == A_TEST_KEY, name
        assert environment["KOPPEL_DATABASE_URL"].startswith(f"postgresql://koppel:{postgres}@")
        assert environment["KOPPEL_BROKER_URL"].startswith(f"amqp://koppel:{rabbitmq}@")
    # The servers are set up with the same users and passwords Koppel logs in with.
    assert services["postgres"]["environment"]["POSTGRES_USER"] == "koppel"
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == postgres
    assert services["rabbitmq"]["environment"]["RABBITMQ_DEFAULT_USER"] == "koppel"
    assert services["rabbitmq"]["environment"]["RABBITMQ_DEFAULT_PASS"] == rabbitmq
    # Without any one of them, Compose refuses to start anything and says what to set.
    for missing in SECRETS:
        given = {name: value for name, value in SECRETS.items() if name != missing}
        refused = compose_config(**given)
        assert refused.returncode != 0, missing
        assert missing in refused.stderr, missing


def published_host_ips(service: dict[str, Any]) -> list[str]:
    """The host address of each published port ("" for every interface), from either form
    ``config`` prints: ``"127.0.0.1:15672:15672/tcp"`` or ``{host_ip, published, target}``."""
    addresses = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            addresses.append(str(port.get("host_ip") or ""))
        else:
            parts = str(port).rsplit(":", 2)
            addresses.append(parts[0].strip("[]") if len(parts) == 3 else "")
    return addresses


def test_no_published_port_is_reachable_from_beyond_this_machine(
    services: dict[str, dict[str, Any]],
) -> None:
    published = {name: published_host_ips(s) for name, s in services.items() if s.get("ports")}
    # The RabbitMQ UI, both simulators and the webhook receiver (behind a TLS proxy) only.
    assert set(published) == {"rabbitmq", "sandbox", "webhooks"}
    for name, addresses in published.items():
        assert addresses and set(addresses) <= LOOPBACK, f"{name} publishes on {addresses}"
    # PostgreSQL publishes nothing at all: only the services reach it.
    assert "ports" not in services["postgres"]


def test_no_password_or_key_is_written_in_the_file() -> None:
    raw = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    found: list[str] = []

    def walk(node: Any, key: str = "") -> None:
        if isinstance(node, dict):
            for child_key, child in node.items():
                walk(child, str(child_key))
        elif isinstance(node, list):
            for child in node:
                walk(child, key)
        elif isinstance(node, str):
            # Each ${...} (with its default or error text) stands for what the environment
            # gives; whatever else is left is written in the file.
            masked = re.sub(r"\$\{[^}]*\}", "<variable>", node)
            if re.search(r"PASS|SECRET|TOKEN_KEY", key) and masked != "<variable>":
                found.append(f"{key}: {node}")
            # The password of user:password@ in a URL must be a variable too.
            for secret in re.findall(r"://[^:/@\s]*:([^@\s/]*)@", masked):
                if secret != "<variable>":
                    found.append(f"{key}: {node}")

    walk(raw)
    assert found == []


def test_compose_accepts_the_file_with_only_the_example_env_file() -> None:
    # Given nothing but .env.example (as a new install copies it to .env)
    result = compose_config(env_file=ENV_EXAMPLE)
    assert result.returncode == 0, result.stderr
    # Then every variable the file reads is documented there, and a real .env is not committed
    read = set(re.findall(r"\$\{(\w+)", (ROOT / "docker-compose.yml").read_text()))
    example = ENV_EXAMPLE.read_text()
    documented = set(re.findall(r"^(\w+)=", example, flags=re.MULTILINE))
    assert read == documented
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    # And its token key is no key at all, so nothing runs before a real one is set
    key = re.search(r"^KOPPEL_TOKEN_KEY=(.*)$", example, flags=re.MULTILINE)
    assert key is not None
    with pytest.raises(ValueError):
        Fernet(key.group(1))


def test_the_image_holds_every_package_and_runs_as_a_non_root_user() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in patterns}
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\w+) \./\1$", dockerfile, flags=re.MULTILINE))
    assert copied == packages
    users = re.findall(r"^USER (\S+)$", dockerfile, flags=re.MULTILINE)
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git", "tests"} <= set(ignored)
