"""The prompt library: loading, rendering errors, bad files and chains."""

from __future__ import annotations

import pytest

from core.catalog import default_catalog
from core.errors import TemplateError
from core.prompts import get_template, load_library, render, run_chain
from core.types import ChatRequest, ChatResult

MODEL = "openai:gpt-4o-mini"


def write(directory, name: str, text: str):
    """Write one template file and return the directory."""
    (directory / f"{name}.toml").write_text(text)
    return directory


def test_shipped_library_has_useful_templates() -> None:
    library = load_library()
    assert {"summarize", "translate", "code_review", "explain_like_five", "extract_json",
            "critique", "rewrite_concise", "compare_options"} <= set(library)
    for template in library.values():
        assert template.description and template.version
        assert template.input in template.variables  # every shipped template can be chained


def test_render_fills_defaults_and_values() -> None:
    text = render("summarize", {"text": "Tides follow the moon.", "length": "one sentence"})
    assert "Tides follow the moon." in text
    assert "as one sentence" in text and "a busy professional" in text


def test_values_with_braces_are_kept_verbatim() -> None:
    text = render("extract_json", {"text": '{"a": 1}', "fields": "a"})
    assert '{"a": 1}' in text


def test_missing_variable_says_how_to_pass_it() -> None:
    with pytest.raises(TemplateError) as err:
        render("translate", {"text": "hello"})
    assert str(err.value) == "template 'translate' needs variable 'language' (pass --var language=...)"


def test_unknown_variable_lists_the_real_ones() -> None:
    with pytest.raises(TemplateError, match="template 'translate' has no variable 'lang'; its "
                                            "variables are: text, language, tone"):
        render("translate", {"text": "hello", "lang": "fr"})


def test_unknown_template_lists_known_names() -> None:
    with pytest.raises(TemplateError, match=r"unknown prompt template 'sumarize'; known: .*summarize"):
        get_template("sumarize")


def test_request_carries_system_prompt_and_output_limit() -> None:
    template = get_template("classify")
    request = template.request({"text": "great!", "labels": "positive, negative"}, MODEL)
    assert request.system == template.system and request.max_tokens == 100
    assert "positive, negative" in request.messages[0].text


GOOD = 'description = "d"\ntemplate = "Say {word}"\n[variables]\nword = {}\n'


def good(top: str) -> str:
    """A valid template file with extra top-level keys (before the [variables] table)."""
    return top + GOOD


@pytest.mark.parametrize("text, expected", [
    ('description = "d"\ntemplate = "unclosed', r"^prompt file bad\.toml: not valid TOML"),
    ('description = "d"\ntemplate = "Say {word}"\n', r"placeholders not declared.*word"),
    (GOOD + 'extra = {}\n', r"variables never used in the template: extra"),
    ('description = "d"\ntemplate = "Say {0}"\n', r"must be a plain name"),
    ('description = "d"\ntemplate = "Say {"\n', r"template text is malformed"),
    ('description = "d"\ntemplate = "x"\ncolour = "red"\n', r"colour: Extra inputs"),
    ('description = "d"\ntemplate = "x"\nmodel = "openai:gpt-9"\n', r"unknown model 'openai:gpt-9'"),
    ('name = "other"\n' + GOOD, r"name 'other' must match the file name"),
    (good('chain = ["nope"]\n'), r"chain names unknown template 'nope'"),
])
def test_bad_template_files_name_the_file(tmp_path, text: str, expected: str) -> None:
    write(tmp_path, "bad", text)
    with pytest.raises(TemplateError, match=expected) as err:
        load_library(tmp_path, default_catalog())
    assert "bad.toml" in str(err.value)


def test_chain_loops_are_refused(tmp_path) -> None:
    write(tmp_path, "a", good('input = "word"\nchain = ["b"]\n'))
    write(tmp_path, "b", good('input = "word"\nchain = ["a"]\n'))
    with pytest.raises(TemplateError, match="prompt chain loops: a → b → a"):
        load_library(tmp_path)


class Echo:
    """An async ``complete`` that answers ``step N`` and records each request."""

    def __init__(self) -> None:
        self.requests: list[ChatRequest] = []

    async def __call__(self, request: ChatRequest) -> ChatResult:
        self.requests.append(request)
        return ChatResult(model=request.model, provider="openai", mode="sandbox",
                          text=f"step {len(self.requests)} output")


async def test_declared_chain_feeds_each_output_into_the_next_input() -> None:
    model = Echo()
    result = await run_chain(["summary_in_language"], {"text": "Long text.", "language": "French"},
                             model, model_id=MODEL)
    assert [s.template for s in result.steps] == ["summary_in_language", "translate"]
    assert "Long text." in model.requests[0].messages[0].text
    second = model.requests[1].messages[0].text
    assert "step 1 output" in second and "into French" in second
    assert model.requests[1].system == get_template("translate").system
    assert result.output == "step 2 output"


async def test_explicit_chain_of_three() -> None:
    model = Echo()
    result = await run_chain(["critique", "rewrite_concise", "translate"],
                             {"text": "Draft.", "max_words": "50", "language": "German"},
                             model, model_id=MODEL)
    assert len(result.steps) == 3
    assert "at most 50 words" in result.steps[1].prompt and "step 1 output" in result.steps[1].prompt
    assert "step 2 output" in result.steps[2].prompt


async def test_chain_refuses_unknown_and_missing_variables() -> None:
    with pytest.raises(TemplateError, match="no template in the chain summarize → translate has a "
                                            "variable 'colour'"):
        await run_chain(["summarize", "translate"], {"text": "x", "colour": "red"}, Echo(),
                        model_id=MODEL)
    model = Echo()
    with pytest.raises(TemplateError, match="needs variable 'language'"):
        await run_chain(["summarize", "translate"], {"text": "x"}, model, model_id=MODEL)
    assert len(model.requests) == 1  # the first step ran, the second could not be rendered


async def test_chain_step_without_input_is_refused(tmp_path) -> None:
    write(tmp_path, "first", good('input = "word"\n'))
    write(tmp_path, "second", GOOD)
    library = load_library(tmp_path)
    with pytest.raises(TemplateError, match="template 'second' cannot take the previous step's"):
        await run_chain(["first", "second"], {"word": "hi"}, Echo(), model_id=MODEL,
                        library=library)
