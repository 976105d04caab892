from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from reconciler.errors import ConfigError, InputError
from reconciler.input.settings import (
    IgnoreRule,
    Settings,
    default_settings,
    find_settings,
    load_settings,
    settings_from_mapping,
)

SCHEMA_PATH = Path(__file__).parents[2] / "schemas" / "settings.schema.json"


def settings_file(tmp_path: Path, text: str, name: str = "reconciler.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def problems_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(InputError) as raised:
        load_settings(settings_file(tmp_path, text))
    return [str(problem) for problem in raised.value.problems]


def test_defaults_come_from_the_schema() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    defaults = default_settings()
    assert defaults == Settings(
        target=schema["properties"]["target"]["default"],
        base_url=schema["properties"]["base_url"]["default"],
        concurrency=schema["properties"]["concurrency"]["default"],
        timeout=schema["properties"]["timeout"]["default"],
        rate_limit=schema["properties"]["rate_limit"]["default"],
        max_changes=schema["properties"]["max_changes"]["default"],
        sensitive=(),
        ignore=(),
    )
    assert (defaults.concurrency, defaults.max_changes, defaults.rate_limit) == (32, "25%", None)
    assert defaults.timeout == 30.0


def test_the_schema_is_valid_and_its_examples_pass() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for example in schema["examples"]:
        validator.validate(example)


def test_no_file_means_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings(None) == default_settings()


def test_reconciler_yaml_in_the_current_directory_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings_file(tmp_path, "concurrency: 3\n")
    assert load_settings(None).concurrency == 3


def test_every_setting_is_read(tmp_path: Path) -> None:
    path = settings_file(
        tmp_path,
        """\
base_url: http://127.0.0.1:8080
concurrency: 4
timeout: 2.5
rate_limit: 5
max_changes: 10
sensitive: [date_of_birth, additional_attributes.social_profiles]
ignore:
  - custom_attributes.last_seen
  - contact: 318763
    paths: [name, additional_attributes.social_profiles.twitter]
  - {contact: support@example.com, paths: [blocked]}
""",
    )
    assert load_settings(path) == Settings(
        target="livedesk",
        base_url="http://127.0.0.1:8080",
        concurrency=4,
        timeout=2.5,
        rate_limit=5.0,
        max_changes=10,
        sensitive=("date_of_birth", "additional_attributes.social_profiles"),
        ignore=(
            IgnoreRule(("custom_attributes.last_seen",)),
            IgnoreRule(("name", "additional_attributes.social_profiles.twitter"), "318763"),
            IgnoreRule(("blocked",), "support@example.com"),
        ),
    )


def test_whole_numbers_written_as_floats_are_counts(tmp_path: Path) -> None:
    settings = load_settings(settings_file(tmp_path, "max_changes: 2.0\nconcurrency: 4.0\n"))
    assert settings.max_changes == 2
    assert type(settings.max_changes) is int
    assert type(settings.concurrency) is int
    assert settings.change_limit(5) == 2


def test_an_empty_file_means_defaults(tmp_path: Path) -> None:
    assert load_settings(settings_file(tmp_path, "# nothing yet\n")) == default_settings()


def test_a_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope.yaml: no such settings file"):
        load_settings(str(tmp_path / "nope.yaml"))


def test_credentials_are_refused_with_a_pointer_to_the_environment(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "api_key: abc\napi_secret: def\n")
    assert len(problems) == 2
    assert problems[0].startswith(f"{tmp_path}/reconciler.yaml:1:1: error: $.api_key: ")
    assert "LIVEDESK_API_KEY and LIVEDESK_API_SECRET in the environment" in problems[0]
    assert problems[1].startswith(f"{tmp_path}/reconciler.yaml:2:1: error: $.api_secret: ")
    assert "abc" not in " ".join(problems)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "concurency: 3\n",
            "$.concurency: 'concurency' is not a setting (did you mean 'concurrency'?)",
        ),
        ("concurrency: 0\n", "$.concurrency: must be at least 1"),
        ("max_changes: 25 percent\n", "$.max_changes: must be a percentage from 0% to 100%"),
        ("max_changes: 150%\n", "$.max_changes: must be a percentage from 0% to 100%"),
        ("max_changes: -1\n", "$.max_changes: must be a count of 0 or more"),
        ("max_changes: 2.5\n", "$.max_changes: must be a whole count such as 10"),
        ("rate_limit: 0\n", "$.rate_limit: must be more than 0"),
        ("ignore: [nickname]\n", "$.ignore[0]: is not a path plan compares"),
        ("ignore: [custom_attributes.]\n", "$.ignore[0]: is not a path plan compares"),
        ("ignore:\n  - contact: 5\n", "$.ignore[0]: the rule has no `paths`"),
        ("ignore:\n  - {contact: 5, paths: [id]}\n", "$.ignore[0].paths[0]: is not a path"),
        ("ignore:\n  - {contact: 5, path: [name]}\n", "$.ignore[0].path: 'path' is not a key"),
        ("sensitive: date of birth\n", "$.sensitive: must be a list of attribute keys"),
        ("base_url: https://key:secret@example.com\n", "$.base_url: must be a URL"),
        ("- a list\n", "$: reconciler.yaml must be a mapping of settings"),
    ],
)
def test_problems_are_reported_like_the_contact_files(
    tmp_path: Path, text: str, expected: str
) -> None:
    problems = problems_of(tmp_path, text)
    assert any(expected in problem for problem in problems), problems
    assert all(problem.startswith(f"{tmp_path}/reconciler.yaml:") for problem in problems)


def test_yaml_errors_are_problems_too(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, "concurrency: 3\nconcurrency: 4\n")
    assert ":2:1: error:" in problem


@pytest.mark.parametrize(
    ("max_changes", "managed", "limit"),
    [
        ("25%", 9, None),  # a percentage waits for 10 contacts
        ("25%", 10, 2),
        ("25%", 12, 3),
        ("25%", 1000, 250),
        ("12.5%", 80, 10),
        ("0%", 100, 0),
        ("100%", 50, 50),
        (0, 3, 0),  # a count applies whatever the size
        (10, 5, 10),
    ],
)
def test_change_limit(max_changes: int | str, managed: int, limit: int | None) -> None:
    settings = settings_from_mapping({"max_changes": max_changes})
    assert settings.change_limit(managed) == limit


def test_settings_are_found_from_a_subdirectory_up_to_the_repository_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tmp_path / "reconciler.yaml"  # above the repository: never used
    outside.write_text("max_changes: 1\n", "utf-8")
    repository = tmp_path / "repo"
    (repository / ".git").mkdir(parents=True)
    deep = repository / "contacts" / "vip"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert find_settings() is None
    assert load_settings(None) == default_settings()
    (repository / "reconciler.yml").write_text("max_changes: 7\n", "utf-8")
    assert find_settings() == repository / "reconciler.yml"
    settings = load_settings(None)
    assert settings.max_changes == 7
    assert settings.source == str(Path("..", "..", "reconciler.yml"))
    (repository / "contacts" / "reconciler.yaml").write_text("max_changes: 3\n", "utf-8")
    assert load_settings(None).max_changes == 3  # the nearest wins
