"""The smoke-test judgement: sensible answers in any language pass; gibberish fails, saying why."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelpack.core.results.judge import (
    NO_EXPECT_NOTE,
    Judgement,
    Measurement,
    TextJudgement,
    degenerate_reason,
    judge,
    judge_text,
)
from modelpack.errors import UsageError

GOOD = {
    "sentence": "The capital of France is Paris.",
    "one word": "Paris.",
    "yes": "Yes.",
    "number": "42",
    "big number": "1,000,000,000,000,000",
    "repeating decimal": "0.3333333333333333",
    "repeating decimal in a sentence": "2/3 is 0.6666666666666666.",
    "a trillion": "A trillion is 1000000000000.",
    "french": "La capitale de la France est Paris.",
    "german": "Die Hauptstadt von Frankreich ist Paris.",
    "chinese": "法国的首都是巴黎。",
    "japanese": "フランスの首都はパリです。",
    "russian": "Столица Франции — Париж.",
    "korean": "프랑스의 수도는 파리입니다.",
    "hindi": "फ्रांस की राजधानी पेरिस है।",
    "thai": "เมืองหลวงของฝรั่งเศสคือปารีส",
    "vietnamese": "Thủ đô của Pháp là Paris.",
    "hebrew": "פריז היא בירת צרפת.",
    "turkish": "Fransa'nın başkenti Paris'tir.",  # noqa: RUF001
    "arabic": "عاصمة فرنسا هي باريس.",
    "greek": "Η πρωτεύουσα της Γαλλίας είναι το Παρίσι.",  # noqa: RUF001
    "python": "```python\ndef add(a: int, b: int) -> int:\n    return a + b\n```",
    "nested loops": "for i in range(n):\n    for j in range(n):\n"
    "        c[i][j] = a[i][j] + b[i][j]\n",
    "sql": "SELECT name, COUNT(*) FROM users WHERE age > 30 GROUP BY name ORDER BY COUNT(*) DESC;",
    "shell": "git add . && git commit -m 'fix' && git push origin main",
    "json": '{"a": 1, "b": [1, 2], "c": {"d": null}}',
    "html": '<div class="a"><span>Hi</span></div>',
    "zeros in code": "a = [0, 0, 0, 0]",
    "numbered list": "1. Paris\n2. London\n3. Berlin\n4. Madrid\n5. Rome",
    "markdown": "## Steps\n\n- **Preheat** the oven to 180 °C.\n- Mix the flour and sugar.\n"
    "- Bake for 25 minutes.\n\n---\n\n*Enjoy!*",
    "markdown table": "| Name | Age |\n|------|-----|\n| Ann | 31 |\n| Bob | 42 |",
    "setext heading": "Title\n================\n\nSome text follows under the heading.",
    "short underlined heading": "Exceptions\n----------",
    "rst heading": "Security\n^^^^^^^^",
    "comment banner": "# ------------------------------------------------ command-line interface",
    "leader dots": "Chapter 1 ........................ 3",
    "repetitive code": "if r < 0.0:\n    r = 0.0\nif g < 0.0:\n    g = 0.0\nif b < 0.0:\n"
    "    b = 0.0\nif r > 1.0:\n    r = 1.0\nif g > 1.0:\n    g = 1.0\nif b > 1.0:\n    b = 1.0",
    "counting": "The sequence is 1, 2, 3, 4, 5, 6, 7, 8, 9, 10.",
    "emphatic yes": "Yes yes yes yes, of course!",
    "quoted repetition": 'He said: "no, no, no" and left.',
    "ellipsis": "Hmm... I think so!!!",
    "long-winded (SmolLM2, alpaca template)": (
        "The answer to this question lies in the context of French history and culture. The "
        "capital of France is Paris, a city renowned for its historical landmarks, art, "
        "architecture, fashion, gastronomy, and cultural institutions."
    ),
    "emoji answer": "\U0001f44d",
    "html strikethrough": "The price was <s>40 EUR</s> and is now 30 EUR.",
    "camel case brands": "Open PowerPoint, paste the chart from JavaScript, share on YouTube.",
    "chemistry": "Glucose is C6H12O6 and water is H2O.",
    "maths with greek": "The area is A = \u03c0r\u00b2 and the change is \u0394x.",
    "japanese with latin": "API\uff08Application Programming Interface\uff09\u306f\u3001"
    "\u30bd\u30d5\u30c8\u30a6\u30a7\u30a2\u540c\u58eb\u306e\u7d04\u675f\u3067\u3059\u3002",
    "chinese song with repeats": "\u4e24\u53ea\u8001\u864e\uff0c\u4e24\u53ea\u8001\u864e\uff0c\n"
    "\u8dd1\u5f97\u5feb\uff0c\u8dd1\u5f97\u5feb\uff0c",
    "poem with a refrain": "I walked along the river,\nand the river sang to me;\nI walked along "
    "the mountain,\nand the mountain sang to me;\nI walked along the highway,\nand no one sang "
    "to me.",
    "numbered steps": "Step 1: Boil water.\nStep 2: Put a tea bag in a cup.\nStep 3: Pour the "
    "water.\nStep 4: Wait three minutes.\nStep 5: Remove the tea bag.",
    "array of eight zeros": "int counts[8] = {0, 0, 0, 0, 0, 0, 0, 0};",
    "translations in many scripts": "Paris is \u041f\u0430\u0440\u0438\u0436 in Russian, "
    "\u03a0\u03b1\u03c1\u03af\u03c3\u03b9 in Greek, \u5df4\u9ece in Chinese and "
    "\u05e4\u05e8\u05d9\u05d6 in Hebrew.",
    "regex": "^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}$",
    "cut-off list (SmolLM2, llama-3 template)": (
        "1. The capital of France is Paris.\n2. The capital of France is not a country, but "
        "rather a city named after the French capital.\n3. The capital of France is not a city "
        "or an administrative division (e.g., national capital), but it's still a political "
        "entity with its own"
    ),
}

BAD = {
    "empty": ("", "empty answer"),
    "whitespace": ("  \n\t ", "empty answer"),
    "one char": ("!!!!!!!!", "no letters or digits"),
    "code fence only (SmolLM2, gemma template without prompt)": ("```", "no letters or digits"),
    "punctuation soup": ("?!?!.,;:!?..,;:!?;:", "no letters or digits"),
    "symbol soup with a letter": ("*&^%$#@!(*&^%a$#@!)~+=", "mostly punctuation or symbols"),
    "one word": ("the the the the", "'the' repeats 4 times"),
    "one word, long": (" ".join(["Paris"] * 30), "'Paris' repeats 30 times"),
    "word and comma": ("Paris, " * 12, "'Paris,' repeats 12 times"),
    "bigram": ("Paris. Paris. Paris. Paris. Paris.", "'Paris.' repeats 5 times"),
    "trigram loop": ("The answer is the answer is the answer is the answer is", "repeats 4 times"),
    "looping sentence": ("I am a helpful assistant. " * 5, "'I am a helpful assistant.' repeats"),
    "runaway tail": (
        "The capital of France is Paris, and it is lovely " + "and so on " * 10,
        "'and so on' repeats 10 times",
    ),
    "zeros": ("0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0", "'0,' repeats 10 times"),
    "chars without spaces": ("hahahahahahahaha", "'ha' repeats 8 times"),
    "abc": ("abcabcabcabcabc", "'abc' repeats 5 times"),
    "cjk pair": ("巴黎巴黎巴黎巴黎巴黎巴黎", "'巴黎' repeats 6 times"),
    "thai loop": ("ปารีสปารีสปารีสปารีสปารีส", "repeats 5 times"),
    "cjk char": ("的的的的的的的的", "'的' repeats 8 times"),
    "digit loop": ("1" * 40, "'1' repeats 40 times"),
    "shouting": ("Hi" + "!" * 30, "'!' repeats 30 times"),
    "few phrases shuffled": (
        " ".join(["cat", "dog", "cat", "bird", "dog", "cat", "dog", "bird", "bird", "cat"] * 4),
        "repeats 4 times",
    ),
    "low diversity": (
        " ".join(random.Random(7).choices(["the", "cat", "sat", "on", "mat"], k=60)),
        "low diversity (8% distinct words per 50)",
    ),
    "im_start": ("<|im_start|><|im_start|><|im_start|>", "'<|im_start|>'"),
    "im_end after answer": ("Paris<|im_end|>", "'<|im_end|>'"),
    "llama 3": ("Paris<|eot_id|><|start_header_id|>user", "'<|eot_id|>'"),
    "llama 3 header": ("<|start_header_id|>assistant", "'<|start_header_id|>'"),
    "inst": ("Sure [INST] what is", "'[INST]'"),
    "sys": ("<<SYS>> You are", "'<<SYS>>'"),
    "gemma": ("Paris<end_of_turn>", "'<end_of_turn>'"),
    "deepseek": ("Paris<\uff5cend\u2581of\u2581sentence\uff5c>", "leaked chat-template token"),
    "gemma leak (SmolLM2 on 0.9.3)": (
        "</start_of_turn><beginning-of-turn>city\n<beginning-of-turn>city\n"
        "</beginning-of-turn></ending-of-turn>",
        "'</start_of_turn>'",
    ),
    "random weights (issue 14)": (
        "\u06f6 a a\\` France-6 ParisZ< a:1 the'hW9):hr.)",
        "garbled words",
    ),
    "random weights, glued words": (
        "thatitParis land}k7/ofcapital>PU Paris51X",
        "garbled words",
    ),
    "random weights, control bytes (tiny_gguf on 0.9.3)": (
        "N)b\x1d\x18 Paris FrancezWd:(Z/Ih?z\r<s>\x0b",
        "control character(s)",
    ),
    "undecodable bytes": ("The capital \ufffd\ufffd is Paris", "2 undecodable byte(s)"),
    "bos token (tiny_gguf on 0.9.3)": ("{<s>", "leaked chat-template token '<s>'"),
    "eos token": ("Paris</s>", "leaked chat-template token '</s>'"),
    "sentencepiece byte": ("The<0x0A>sea<0x0A>is<0x0A>wide", "'<0x0A>'"),
    "unk": ("Roses are red<unk><unk>", "'<unk>'"),
    "go template": ("{{ .Prompt }}", "'{{ .Prompt'"),
    "alpaca turn": ("4\n\n### Instruction:\nWhat is 3 + 3?", "'### Instruction:'"),
    "fluent loop, three times (issue 14)": (
        "la femme au martyre la femme au martyre la femme au martyre",
        "'la femme au martyre' repeats 3 times",
    ),
    "sentence three times, chinese": (
        "\u5317\u4eac\u662f\u4e2d\u56fd\u7684\u9996\u90fd\u3002" * 3,
        "repeats 3 times",
    ),
    "growing loop": (
        "Gravity is a force. Gravity is a force that pulls. Gravity is a force that pulls "
        "things. Gravity is a force that pulls things down. Gravity is a force that pulls "
        "things down to the ground. Gravity is a force that pulls things down to the ground.",
        "loops: ",
    ),
    "list repeating one item": ("1. Apple\n2. Apple\n3. Apple\n4. Apple", "'Apple' repeats 4"),
    "few characters (tiny_gguf seed 4)": (
        "<<<<<<<<<<<q}<<<<}q}q}30<}q}q}q}q}30",
        "only 5 distinct characters in 23",
    ),
    "homoglyph soup": (
        "B\u043e\u043d\u0436\u0443\u0440 c\u043emment \u00e7\u0430 v\u0430 bien",
        "letters of two alphabets in one word",
    ),
    "stray scripts": (
        "\u041f\u0430\u0440\u0438\u0436\u662f the \u9996\u90fd of France "
        "\u0628 France \u0e02\u0e2d\u0e07 Paris",
        "stray letters from 2 other scripts (arabic, thai)",
    ),
    "one digit, broken AMX kernel (SmolLM2 on 0.9.3's sapphirerapids CPU library)": (
        "666666666666666666666666",
        "'6' repeats 24 times",
    ),
    "gemma leak after Paris (SmolLM2 on 0.5.4)": (
        "Paris, France</start_of_turn><city>Santé</city></country>",
        "'</start_of_turn>'",
    ),
}


def measured(text: str = "The capital of France is Paris.", **overrides: object) -> Measurement:
    fields: dict[str, object] = {
        "text": text,
        "done_reason": "stop",
        "num_predict": 64,
        "ttft_s": 0.2,
        "load_s": 0.6,
        "prompt_tokens": 16,
        "prompt_s": 0.4,
        "eval_tokens": 8,
        "eval_s": 0.25,
        "size": 1000,
        "size_vram": 1000,
    }
    fields.update(overrides)
    return Measurement(**fields)  # type: ignore[arg-type]


def judged(text: str = "The capital of France is Paris.", **overrides: object) -> Judgement:
    return judge(measured(text, **overrides), expect=None, gpu="ignore")


# -- degenerate_reason -----------------------------------------------------------------------


@pytest.mark.parametrize("text", GOOD.values(), ids=GOOD.keys())
def test_sensible_answers_are_not_degenerate(text: str) -> None:
    assert degenerate_reason(text) is None
    assert judged(text).passed


@pytest.mark.parametrize(("text", "reason"), BAD.values(), ids=BAD.keys())
def test_gibberish_is_degenerate_with_a_reason(text: str, reason: str) -> None:
    found = degenerate_reason(text)
    assert found is not None
    assert reason in found
    assert "\n" not in found
    verdict = judged(text)
    assert not verdict.passed
    assert any(reason in line for line in verdict.failures), verdict.failures


@pytest.mark.parametrize(
    ("prompt", "text"),
    [
        ("What is the capital of France?", "What is the capital of France?"),
        (
            "What is the capital of France?",
            "what is the capital of france\nWhat is the capital of France?",
        ),
        (
            "\u4e2d\u56fd\u7684\u9996\u90fd\u662f\u54ea\u91cc\uff1f",
            "\u4e2d\u56fd\u7684\u9996\u90fd\u662f\u54ea\u91cc\uff1f",
        ),
        ("Explain what a CPU is in one sentence.", "Explain what a CPU is in one sentence.\n\n"),
    ],
)
def test_an_echoed_prompt_is_degenerate(prompt: str, text: str) -> None:
    reason = degenerate_reason(text, prompt=prompt)
    assert reason is not None and reason.startswith("the prompt echoed back")
    assert degenerate_reason(text) is None  # without the prompt there is nothing to compare
    verdict = judge(measured(text), expect=None, gpu="ignore", prompt=prompt)
    assert verdict.failures[0].startswith("degenerate output: the prompt echoed back")


@pytest.mark.parametrize(
    ("prompt", "text"),
    [
        ("Hello!", "Hello!"),  # too short a prompt to call an echo
        ("What is the capital of France?", "What is the capital of France? It is Paris."),
        ("Say: the quick brown fox jumps", "The quick brown fox jumps over the lazy dog."),
    ],
)
def test_an_answer_that_quotes_the_prompt_is_not_an_echo(prompt: str, text: str) -> None:
    assert degenerate_reason(text, prompt=prompt) is None


def test_judge_text_notes_that_a_pass_without_expect_proves_little() -> None:
    assert judge_text("Paris.") == TextJudgement(passed=True, failures=[], notes=[NO_EXPECT_NOTE])
    assert judge_text("Paris.", expect="Paris") == TextJudgement(passed=True)
    assert judge_text("", prompt="Capital?", expect="Paris") == TextJudgement(
        passed=False, failures=["empty answer", "answer does not match expect /Paris/"]
    )


def test_reason_quotes_long_patterns_shortly() -> None:
    sentence = "This sentence is long enough to need shortening when it is quoted. "
    reason = degenerate_reason(sentence * 4)
    assert reason is not None
    assert "'This sentence is long enough to need...' repeats 4 times" in reason


def test_empty_is_reported_once_and_not_as_degenerate() -> None:
    assert judged("").failures == ["empty answer"]


def test_degenerate_failure_names_the_rule() -> None:
    assert judged("the the the the").failures == [
        "degenerate output: 'the' repeats 4 times (4 of 4 units)"
    ]


_WORDS = st.one_of(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8),
    st.text(alphabet="абвгдежзиклмнопрст", min_size=1, max_size=6),
    st.integers(0, 10_000).map(str),
    st.sampled_from(list(".,;:!?-*#()[]{}\"'/")),
    st.sampled_from(list("巴黎的是法国首都パリ")),
    st.sampled_from(["<|im_start|>", "<|im_end|>", "[INST]", "<end_of_turn>"]),
)


@given(
    pattern=st.lists(_WORDS, min_size=1, max_size=8),
    repeats=st.integers(12, 40),
    separator=st.sampled_from([" ", "\n", "  "]),
)
def test_any_repeated_short_word_pattern_is_degenerate(
    pattern: list[str], repeats: int, separator: str
) -> None:
    text = (separator.join(pattern) + separator) * repeats
    assert degenerate_reason(text) is not None, text


@given(
    pattern=st.text(
        alphabet=st.characters(categories=["L", "N", "P", "S"]), min_size=1, max_size=8
    ).filter(lambda p: not all(c.isdecimal() or c in ".," for c in p)),
    repeats=st.integers(12, 40),
)
def test_any_repeated_short_char_pattern_is_degenerate(pattern: str, repeats: int) -> None:
    """Patterns without spaces (CJK, `!?!?`, `hahaha`); pure digit groups are numbers."""
    assert degenerate_reason(pattern * repeats) is not None, pattern * repeats


# -- finish reasons --------------------------------------------------------------------------


def test_stop_is_a_normal_finish() -> None:
    verdict = judged(done_reason="stop")
    assert verdict == Judgement(
        passed=True, failures=[], warnings=[], decode_tps=32.0, prompt_tps=40.0, gpu_fraction=1.0
    )


def test_length_with_a_sensible_answer_passes_with_a_warning() -> None:
    verdict = judged(GOOD["cut-off list (SmolLM2, llama-3 template)"], done_reason="length")
    assert verdict.passed
    assert verdict.warnings == ["ran into the num_predict limit (64) before finishing"]


def test_length_with_a_degenerate_answer_fails() -> None:
    verdict = judged("Paris. " * 20, done_reason="length")
    assert not verdict.passed
    assert verdict.failures == ["degenerate output: 'Paris.' repeats 20 times (40 of 40 units)"]
    assert verdict.warnings == []


@pytest.mark.parametrize("reason", ["load", "unload", "error"])
def test_other_finish_reasons_fail(reason: str) -> None:
    verdict = judged(done_reason=reason)
    assert not verdict.passed
    assert verdict.failures == [f"stopped for '{reason}' instead of finishing"]


def test_missing_finish_reason_fails() -> None:
    assert judged(done_reason=None).failures == ["no finish reason reported"]


# -- expect ----------------------------------------------------------------------------------


def test_expect_found_passes() -> None:
    assert judge(measured(), expect=r"Par(is|ís)", gpu="ignore").passed


def test_expect_not_found_names_the_pattern() -> None:
    verdict = judge(measured("The capital is Lyon."), expect="Paris", gpu="ignore")
    assert verdict.failures == ["answer does not match expect /Paris/"]


def test_expect_is_a_search_and_case_sensitive_unless_asked() -> None:
    text = "I think it is paris, in the north."
    assert judge(measured(text), expect="(?i)PARIS", gpu="ignore").passed
    assert not judge(measured(text), expect="PARIS", gpu="ignore").passed


def test_invalid_expect_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"expect /Par\(is/ is not a valid regular expression"):
        judge(measured(), expect="Par(is", gpu="ignore")


def test_every_failure_is_reported_together() -> None:
    verdict = judge(
        measured("", done_reason="load", size=100, size_vram=0), expect="Paris", gpu="require"
    )
    assert verdict.failures == [
        "empty answer",
        "stopped for 'load' instead of finishing",
        "answer does not match expect /Paris/",
        "not fully on the GPU (0% offloaded)",
    ]


# -- GPU -------------------------------------------------------------------------------------

NOT_ON_GPU = "not fully on the GPU ({}% offloaded)"
UNKNOWN = "GPU offload unknown (no model size reported)"


@pytest.mark.parametrize(
    ("size", "size_vram", "fraction", "line"),
    [
        (1000, 0, 0.0, NOT_ON_GPU.format(0)),
        (1000, 500, 0.5, NOT_ON_GPU.format(50)),
        (1000, 996, 0.996, NOT_ON_GPU.format(99)),
        (10_000, 9_995, 0.9995, None),
        (1000, 1000, 1.0, None),
        (None, 1000, None, UNKNOWN),
        (1000, None, None, UNKNOWN),
        (0, 0, None, UNKNOWN),
    ],
    ids=["0%", "50%", "99.6%", "99.95%", "100%", "no size", "no vram", "zero size"],
)
def test_gpu_policies(
    size: int | None, size_vram: int | None, fraction: float | None, line: str | None
) -> None:
    m = measured(size=size, size_vram=size_vram)
    lines = [line] if line else []
    required = judge(m, expect=None, gpu="require")
    preferred = judge(m, expect=None, gpu="prefer")
    ignored = judge(m, expect=None, gpu="ignore")
    assert required.gpu_fraction == preferred.gpu_fraction == ignored.gpu_fraction == fraction
    assert (required.passed, required.failures, required.warnings) == (not line, lines, [])
    assert (preferred.passed, preferred.failures, preferred.warnings) == (True, [], lines)
    assert (ignored.passed, ignored.failures, ignored.warnings) == (True, [], [])


def test_unknown_gpu_policy_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown gpu policy 'always'"):
        judge(measured(), expect=None, gpu="always")  # type: ignore[arg-type]


# -- rates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tokens", "seconds", "tps"),
    [
        (64, 2.0, 32.0),
        (0, 1.0, 0.0),
        (None, 2.0, None),
        (64, None, None),
        (64, 0.0, None),
        (1, -1.0, None),
    ],
)
def test_token_rates(tokens: int | None, seconds: float | None, tps: float | None) -> None:
    decode = judged(eval_tokens=tokens, eval_s=seconds)
    prompt = judged(prompt_tokens=tokens, prompt_s=seconds)
    assert decode.decode_tps == tps
    assert prompt.prompt_tps == tps
    assert decode.prompt_tps == 40.0
    assert prompt.decode_tps == 32.0
