"""Koppel's one error tree (config/errors.py): every exception class Koppel defines has
``KoppelError`` as its root and exactly one marker, and the callers sort by the marker, so
an error class added anywhere is answered and dead-lettered or retried without a list to
extend."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import click
import httpx
import pytest
from click.testing import CliRunner

import config.errors
from clients.errors import ApiError, DataError, ReauthorizationNeeded, TransientError
from clients.teamleader.errors import error_for as teamleader_error_for
from clients.visma.errors import error_for as visma_error_for
from config.errors import MARKERS, KoppelError, Misconfigured, NeedsPerson, TryLater
from consumers.errors import PermanentFailure, as_permanent, describe
from ops.cli import COMMANDS, EXIT_NEEDS_OPERATOR, main

#: Koppel's own packages (sandbox/ stands in for the two APIs and has errors of its own).
PACKAGES = ("config", "contracts", "clients", "translation", "store", "producers", "consumers")
#: The CLI's package, walked too (its modules import everything else).
ALL_PACKAGES = (*PACKAGES, "ops")

#: Bases that carry no marker because their subclasses are sorted when they are made, from
#: what the API answered; each refuses to be raised itself (checked below).
SORTING_BASES = {ApiError}


def modules_of(package_name: str) -> list[ModuleType]:
    package = importlib.import_module(package_name)
    names = [info.name for info in pkgutil.walk_packages(package.__path__, f"{package_name}.")]
    # An import error fails the test: a module that cannot be imported is not checked.
    return [package, *(importlib.import_module(name) for name in names)]


def koppel_error_classes() -> list[type[BaseException]]:
    """Every exception class defined (not merely imported) in a Koppel module, the tree's
    root and markers aside."""
    found: dict[str, type[BaseException]] = {}
    for package_name in ALL_PACKAGES:
        for module in modules_of(package_name):
            for name, value in vars(module).items():
                if (
                    inspect.isclass(value)
                    and issubclass(value, BaseException)
                    and value.__module__ == module.__name__
                    and value not in (KoppelError, *MARKERS)
                ):
                    found[f"{module.__name__}.{name}"] = value
    return sorted(found.values(), key=lambda c: f"{c.__module__}.{c.__qualname__}")


def markers_of(error_class: type[BaseException]) -> list[str]:
    return [m.__name__ for m in MARKERS if issubclass(error_class, m)]


ERROR_CLASSES = koppel_error_classes()


def test_the_walk_finds_the_error_classes_of_every_layer() -> None:
    names = {f"{c.__module__}.{c.__qualname__}" for c in ERROR_CLASSES}
    for expected in (
        "config.unreachable.ServiceUnreachable",
        "contracts.messages.MalformedMessage",
        "clients.errors.DataError",
        "translation.errors.UnmappedTaxRate",
        "store.writes.Busy",
        "consumers.errors.PermanentFailure",
    ):
        assert expected in names
    assert any(name.startswith("ops.") for name in names)
    assert len(ERROR_CLASSES) >= 30


@pytest.mark.parametrize("error_class", ERROR_CLASSES, ids=lambda c: c.__qualname__)
def test_every_koppel_error_class_has_koppel_error_as_its_root(
    error_class: type[BaseException],
) -> None:
    assert issubclass(error_class, KoppelError), f"{error_class} does not derive from a marker"


@pytest.mark.parametrize(
    "error_class",
    [c for c in ERROR_CLASSES if c not in SORTING_BASES],
    ids=lambda c: c.__qualname__,
)
def test_every_koppel_error_class_has_exactly_one_marker(
    error_class: type[BaseException],
) -> None:
    assert len(markers_of(error_class)) == 1, (error_class, markers_of(error_class))


def test_a_sorting_base_has_no_marker_and_cannot_be_raised_unsorted() -> None:
    for base in SORTING_BASES:
        assert markers_of(base) == []
        subclasses = [c for c in ERROR_CLASSES if issubclass(c, base) and c is not base]
        assert subclasses
        assert all(len(markers_of(sub)) == 1 for sub in subclasses)
    with pytest.raises(TypeError, match="raise DataError, TransientError"):
        ApiError("visma", "something went wrong", status=500)


@pytest.mark.parametrize("error_class", ERROR_CLASSES, ids=lambda c: c.__qualname__)
def test_the_tree_in_the_root_module_names_every_error_class(
    error_class: type[BaseException],
) -> None:
    assert error_class.__qualname__ in (config.errors.__doc__ or "")


# -- what the callers do with the markers -----------------------------------------------------


class BookkeeperMustFix(NeedsPerson):
    """An error class none of the callers knows by name."""


class ServiceHiccup(TryLater):
    pass


class SettingWrong(Misconfigured):
    pass


def test_a_new_error_that_needs_a_person_is_dead_lettered_at_once_with_its_message() -> None:
    permanent = as_permanent(BookkeeperMustFix("map tax rate 9 % with `koppel mappings set`"))
    assert isinstance(permanent, PermanentFailure)
    assert describe(BookkeeperMustFix("map tax rate 9 %")) == (
        "BookkeeperMustFix",
        "map tax rate 9 %",
    )


@pytest.mark.parametrize("error", [ServiceHiccup("busy"), SettingWrong("KOPPEL_X is wrong")])
def test_a_new_error_to_try_later_or_of_the_setup_is_retried(error: KoppelError) -> None:
    assert as_permanent(error) is None


def test_an_api_answer_is_sorted_by_its_status_when_the_error_is_made() -> None:
    # A 4xx needs a person and is dead-lettered; a 5xx passes and is retried; a 401 needs
    # `koppel connect` and says so.
    refused = visma_error_for(
        httpx.Response(400, json={"ErrorCode": 3002, "DeveloperErrorMessage": "No 8150"})
    )
    down = visma_error_for(httpx.Response(503, text="maintenance"))
    revoked = teamleader_error_for(httpx.Response(401, json={"errors": [{"title": "revoked"}]}))
    assert isinstance(refused, DataError)
    assert describe(refused) == ("DataError", "visma: No 8150 (HTTP 400)")
    assert isinstance(down, TransientError)
    assert as_permanent(down) is None
    assert isinstance(revoked, ReauthorizationNeeded)
    error_class, reason = describe(revoked)
    assert error_class == "ReauthorizationNeeded"
    assert reason.endswith("Run `koppel connect` again to grant access, then requeue.")


@click.command("boom")
@click.option("--kind", type=click.Choice(["person", "later", "setup", "bug", "click"]))
def boom_command(kind: str) -> None:
    """Fails the way --kind says (a command of this test only)."""
    errors: dict[str, Exception] = {
        "person": BookkeeperMustFix("the customer has no postal code: add it in Teamleader"),
        "later": ServiceHiccup("Visma is down: try again in a minute"),
        "setup": SettingWrong("KOPPEL_X is not a URL: set it to http://host:port"),
        "bug": RuntimeError("a bug"),
        "click": type("Both", (click.ClickException, NeedsPerson), {})("click says it"),
    }
    raise errors[kind]


@pytest.fixture
def boom(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(COMMANDS, "boom", (f"{__name__}:boom_command", "Fails on purpose."))


@pytest.mark.parametrize("kind", ["person", "later", "setup"])
def test_the_cli_answers_a_new_koppel_error_of_any_marker_in_one_line_with_exit_2(
    boom: None, kind: str
) -> None:
    result = CliRunner().invoke(main, ["boom", "--kind", kind])
    assert result.exit_code == EXIT_NEEDS_OPERATOR, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stderr.startswith("koppel boom: ")
    assert result.stderr.count("\n") == 1


def test_the_cli_lets_an_error_that_is_no_koppel_error_show_its_traceback(boom: None) -> None:
    result = CliRunner().invoke(main, ["boom", "--kind", "bug"])
    assert isinstance(result.exception, RuntimeError)


def test_the_cli_leaves_a_click_exception_to_click_even_when_it_is_a_koppel_error(
    boom: None,
) -> None:
    result = CliRunner().invoke(main, ["boom", "--kind", "click"])
    assert result.exit_code == 1
    assert result.stderr == "Error: click says it\n"
