from pathlib import Path

import pytest

from core.config import ConfigError, load_config
from core.report import Report
from core.triage.engine import triage


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "intake.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_config_gives_defaults() -> None:
    config = load_config(None)
    assert config.triage.threshold == 3
    assert "production" in config.triage.production_environments


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[triage]\nthreshold = 'high'\n", "[triage] key 'threshold' has value 'high'"),
        ("[triage]\nthreshold = 9\n", "must be 1..5"),
        ("[triage]\nthreshhold = 2\n", "unknown key 'threshhold'"),
        ("[triaje]\n", "unknown section or key 'triaje'"),
        ("[triage.vocabulary]\noutages = ['down']\n", "unknown name 'outages'"),
        ("[triage.vocabulary]\noutage = 'down'\n", "must be a list of non-empty strings"),
        ("[[triage.rules]]\nname = 'x'\npattern = '(('\n", "not a valid regular expression"),
        ("[[triage.rules]]\nname = 'x'\npattern = 'a'\nyes = ['impactt']\n", "value 'impactt'"),
        ("[[triage.rules]]\nname = 'x'\npattern = 'a'\nseverity = 'SEV9'\n", "'severity'"),
        ("[triage\n", "not valid TOML"),
    ],
)
def test_bad_config_is_refused_with_file_key_and_reason(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(path) in str(error.value)
    assert expected in str(error.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml")


def chat(text: str) -> Report:
    return Report(source="telegram", title=text.splitlines()[0], text=text)


def test_users_extend_the_vocabulary_per_language(tmp_path: Path) -> None:
    text = "Der Kassenautomat spinnt seit heute früh, Kunden stehen Schlange"
    assert triage(chat(text)).decision != "incident"
    path = write(
        tmp_path,
        "[triage.vocabulary.outage]\nde = ['spinnt']\n[triage.vocabulary.complaints]\nde = ['stehen schlange']\n",
    )
    verdict = triage(chat(text), load_config(path).triage)
    assert verdict.decision == "incident"
    assert any('"spinnt"' in e for e in verdict.golden["impact"].evidence)


def test_custom_regex_rule_and_key_customer_domain(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[triage]
key_customer_domains = ["bigbank.example"]

[[triage.rules]]
name = "vip-ticket"
pattern = "\\\\bVIP-\\\\d+\\\\b"
yes = ["impact", "urgent", "coordinate"]
types = ["customer_success"]
severity = "SEV2"
""",
    )
    config = load_config(path).triage
    verdict = triage(chat("Ticket VIP-4411 opened, please look"), config)
    assert verdict.golden["coordinate"].answer is True
    assert any("config:vip-ticket" in f.rule for f in verdict.findings)
    mail = Report(
        source="email",
        title="Statements page broken",
        text="Our treasury team cannot access the statements page since 9am.",
        reporter_address="ops@eu.bigbank.example",
    )
    verdict = triage(mail, config)
    assert "customer_success" in verdict.types
    assert any("key customer domain" in e for e in verdict.golden["impact"].evidence)


def test_threshold_sets_how_many_yes_answers_an_incident_needs(tmp_path: Path) -> None:
    report = chat("Search results are failing for some users right now")
    default = triage(report)
    assert default.decision == "incident"
    assert 3 <= default.yes_count < 5
    strict = load_config(write(tmp_path, "[triage]\nthreshold = 5\n")).triage
    verdict = triage(report, strict)
    assert verdict.decision in ("needs_review", "not_incident")
    assert "threshold 5" in verdict.reason


def test_the_readme_config_example_is_valid(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    config = load_config(write(tmp_path, block))
    assert config.triage.key_customer_domains == ("contoso.com",)
    assert config.triage.rules[0].name == "vip-ticket"
    assert config.grouping.window_hours == 4


def test_keywords_answer_golden_questions_per_language(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[triage.keywords.communicate]
de = ["Pressemitteilung nötig"]
[triage.keywords.not_impact]
en = ["synthetic check"]
""",
    )
    config = load_config(path).triage
    verdict = triage(chat("Checkout failing for everyone, Pressemitteilung nötig"), config)
    assert verdict.golden["communicate"].answer is True
    assert any(
        "config keywords for communicate" in e for e in verdict.golden["communicate"].evidence
    )
    verdict = triage(chat("Login down on the synthetic check only"), config)
    assert verdict.golden["impact"].answer is False
    with pytest.raises(ConfigError, match="unknown name 'impacts'"):
        load_config(write(tmp_path, "[triage.keywords]\nimpacts = ['x']\n"))
