"""Is a model's answer language, or is it degenerate? One classifier for every script.

A GGUF imported with the wrong chat TEMPLATE, or a model with broken weights, still loads and
still generates, so "it answered" proves nothing. `degenerate_reason(text, prompt=...)` returns
None for an answer that looks like language and a one-line reason otherwise. The rules, in the
order they are tried (the first that hits gives the reason):

1. Empty: nothing visible (spaces, zero-width and format characters do not count).
2. Broken characters: U+FFFD (bytes that were not UTF-8, what a byte-level model with bad
   weights emits) or control characters other than tab and newline.
3. Leaked special or template tokens: `<|...|>` (ChatML, Llama 3, Phi-3, `<|endoftext|>`),
   DeepSeek's full-width-bar tokens, Gemma's `<start_of_turn>` family, `[INST]`, `<<SYS>>`,
   SentencePiece pieces (`<unk>`, `<pad>`, `<0x0A>`), BERT's `[PAD]`-style tokens, Go template
   actions (`{{ .Prompt }}`), and turn headers at the start of a line (`### Instruction:`,
   `### Response:`, `USER:` / `ASSISTANT:` in capitals). `<s>` and `</s>` count only unpaired:
   paired, they are HTML strikethrough.
4. The prompt echoed back: once the prompt (compared case-folded, on letters and digits only)
   is taken out of the answer, nothing of substance is left. Prompts shorter than 12 characters
   (CJK characters count twice) are not checked: "Hello!" answered with "Hello!" is fine.
5. Symbols: no letters or digits at all (a lone emoji of up to 5 characters is an answer), or
   fewer than 25% letters or digits from 12 visible characters up (a run of one repeated
   symbol counts once, so markdown rules and code stay above the line).
6. Scripts: letters of two alphabets inside one word (a Latin B before Cyrillic letters), in 3 or
   more words; or stray letters of 2 or more other scripts, at most 3 letters each, among the
   text (Arabic and Thai letters strewn through an English answer). Chinese characters, kana
   and Hangul mix with each other and with Latin freely; Greek letters are left out (they are
   maths: `πr²`, `Δx`).
7. Loops, on the text without list markers (`1.`, `-`, `*` at the start of a line), so a list
   that repeats one item is a loop, and without markdown table rules (`|---|---|`):
   - units (a word, a number, one CJK character, a run of one symbol), case-folded: the same
     1 to 32 units repeated at least 4 times over more than half the text; or at least 3 times
     when the repeated part is 3 or more units long and the stretch is 9 or more units (a
     sentence said three times); or at least 8 times over 16 units anywhere (a runaway tail).
     A repeated pattern of numbers only (`0, 0, 0`) needs 8 repeats: arrays are data.
   - characters (whitespace removed; `-=_*#~.+^` runs count once, so rules and leader dots
     are formatting; pure numbers up to 32 characters are numbers, except a number that is
     one digit 12 or more times, `666666666666`, the answer of a model on a broken CPU
     kernel): 1 to 16 characters at least 4 times, over at least 8 characters and more than
     half the text (`hahaha`, `ござござ`, loops in scripts without spaces).
   - near loops, outside code: 60% or more of the units lie inside a run of 6 units that
     already occurred earlier, from 12 units up. This is the compression-ratio view of a
     loop: it catches a sentence that grows by a word each time ("Gravity is a force.
     Gravity is a force that pulls. ..."), which no fixed period fits. Legitimate structure
     (refrains, numbered steps, tables) stays near or below 50%; code is left to the
     periodic rules, since its repeated lines are often legitimate.
   - low diversity: from 30 words up, fewer than 15% distinct (the mean over blocks of 50
     words, since long texts repeat their common words more); or fewer than 8 distinct
     characters from 20 visible characters up, runs counted once (`<<<<q}<}q}q}30<}q}`).
8. Garbled words, outside code: of the letters in whitespace-separated words, 30% or more (from
   2 words and 12 letters up) are in garbled words: a letter next to a rare symbol
   (`` ` ^ ~ | \\ { } < > @ # $ % & * = ! ? ; `` inside the word: `ParisZ<`, `is4it`#`), or
   three or more switches between letters, digits and other symbols that include a symbol
   (`the'hW9):hr`), or three or more switches between letters and digits with lower-case
   letters among them (`HParis2DH4the`, not `C6H12O6`), or, twice in a word of 6 letters or
   more, a lower-case letter followed by a capital that ends the word or precedes another
   capital (`ParisYFranceitJ`; once is `OpenAI`). Text that looks
   like code (a code fence, two HTML tags, a regular expression, or a third of its lines with
   keywords, assignments, annotations, calls with keyword arguments, decorators or C-like
   line ends) is not checked by this rule, and inline code, markdown links'
   targets, URLs, hex digests, keyword arguments (`source=self.source,`) and calls such as
   `mkdir(parents=True,` do not count as garbled.

Decisions where nothing else decided: the thresholds were set on the calibration corpus in
tests/data/judge/ (real answers from the test rig's servers and hand-written samples in English,
Japanese, Chinese, French and German); tests/unit/test_judge_calibration.py prints the rates.
"""

from __future__ import annotations

import itertools
import operator
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["degenerate_reason"]

MIN_REPEATS = 4
SHORT_REPEATS = 3
SHORT_MIN_PERIOD = 3
SHORT_MIN_UNITS = 9
NUMBER_REPEATS = 8
MIN_COVERAGE = 0.5
TAIL_REPEATS = 8
TAIL_UNITS = 16
MAX_UNIT_PERIOD = 32
MAX_CHAR_PERIOD = 16
MIN_CHAR_STRETCH = 8
MAX_NUMBER_CHARS = 32
MIN_DIGIT_RUN = 12
MIN_ALNUM_SHARE = 0.25
MIN_SOUP_CHARS = 12
MAX_EMOJI_CHARS = 5
MIN_VARIETY_CHARS = 20
MIN_DISTINCT_CHARS = 8
MIN_DIVERSITY = 0.15
MIN_DIVERSITY_WORDS = 30
DIVERSITY_BLOCK = 50
SHINGLE = 6
MIN_SHINGLE_UNITS = 12
MAX_SHINGLE_COVERAGE = 0.6
MIN_ECHO_WEIGHT = 12
MIN_MIXED_WORDS = 3
MAX_STRAY_LETTERS = 3
MIN_STRAY_SCRIPTS = 2
MIN_GARBLED_SHARE = 0.3
MIN_GARBLED_WORDS = 2
MIN_GARBLED_LETTERS = 12
MIN_CASE_WORD = 6
MIN_SWITCHES = 3

# Scripts written without spaces: each character is one unit.
_CJK = (
    "\u3040-\u30ff"  # hiragana, katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs
    "\u0e00-\u0e7f"  # Thai
)
_UNIT = re.compile(
    rf"[{_CJK}]"  # one CJK / kana / Thai character
    r"|\d+(?:[.,]\d+)*"  # a number, separators included
    rf"|[^\W\d_{_CJK}]+(?:['\u2019][^\W\d_{_CJK}]+)*"  # a word (don't, l'État)
    r"|_+"
    r"|([^\w\s])\1*"  # a run of one repeated symbol
)
_CJK_CHAR = re.compile(rf"[{_CJK}\uac00-\ud7af]")
_NUMERIC = re.compile(r"[\d.,]+")
_RULE_RUN = re.compile(r"([-=_*#~.+^])\1+")
_LIST_MARKER = re.compile(r"(?m)^[ \t]*(?:\d{1,3}[.)]|[-*\u2022+]|\(\d{1,3}\))[ \t]+")
_LEAKS = re.compile(
    r"<\|[^|<>\s]{1,40}\|>"  # <|im_start|>, <|eot_id|>, <|endoftext|>, <|user|>
    r"|<\uff5c[^\uff5c<>]{1,40}\uff5c>"  # DeepSeek's full-width bars
    r"|</?\w{1,20}[_-]of[_-]turn>"  # <start_of_turn>, </end_of_turn>
    r"|\[/?INST\]"
    r"|<</?SYS>>"
    r"|<(?:unk|pad|mask|bos|eos|eot)>"  # SentencePiece / Gemma specials
    r"|<0x[0-9A-F]{2}>"  # SentencePiece byte pieces, not decoded
    r"|\[(?:PAD|UNK|CLS|SEP|MASK)\]"  # BERT-style specials
    r"|\{\{-?\s*\.(?:Prompt|System|Response|Messages)\b"  # a Go template action
    r"|(?m:^###\s*(?:Instruction|Response|Input)\s*:)"  # Alpaca turn headers
    r"|(?m:^(?:USER|ASSISTANT|SYSTEM)\s*:)"  # Vicuna turn headers
)
_BOS_EOS = re.compile(r"</?s>")
_BROKEN = re.compile(r"[\ufffd\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_INVISIBLE = {"Zs", "Zl", "Zp", "Cf", "Cc", "Cn"}
_EMOJI_PARTS = {"So", "Sk", "Mn", "Me", "Cf"}
# Words: what code-like syntax and rare symbols look like.
_LEAD = "([{\"'\u00ab\u201e\u201c\u2018\u00bf\u00a1*_`#@$\u300c\u300e\uff08"
_TRAIL = ".,;:!?)]}\"'\u00bb\u201c\u201d\u2019\u2026*_`%\u300d\u300f\uff09\u3002\u3001"
_RARE = set("`^~|\\{}<>@#$%&*=!?;")
_SOFT = set("-'\u2019./:,\u00b7_")
_CODE_LINE = re.compile(
    r"^\s*(?:def|class|return|import|raise|elif|except|function|const|let|var|fn|func"
    r"|public|private|#include)\b|^\s*(?:from \S+ import|async def|else:|try:)"
    r"|^\s*(?:if|for|while)\b.*[:{]\s*$"  # a block opener
    r"|[;{}]\s*$"  # C, JavaScript, CSS
    r"|^\s*[A-Za-z_][\w.\[\]]*\s+[-+*/]?=\s+\S"  # an assignment
    r"|^\s*[A-Za-z_]\w*\s*:\s*[A-Za-z_][\w\[\], |.]*(?:=.*)?$"  # an annotation
    r"|\b[A-Za-z_]\w*\([^()\n]*\b\w+="  # a call with keyword arguments
    r"|^\s+[a-z_]\w*=[^=\s].*,\s*$"  # a keyword argument on its own line
    r"|^\s*@[\w.]+"  # a decorator
    r"|^(?: {4}|\t)\S.*[(\[{,:]\s*$"  # an indented line that goes on
    r"|^\s*(?:SELECT|FROM|WHERE|INSERT|UPDATE|DELETE)\b|^\s*<\w+[^>]*>"
)
_KWARG = re.compile(r"[a-z_][a-z0-9_]*=[\w\"'(\[{]")
_HEX = re.compile(r"[0-9a-f]{7,}|[0-9A-F]{7,}")
_CALL = re.compile(r"[A-Za-z_][\w.]*\(")
_MD_LINK = re.compile(r"\[([^\]\n]*)\]\([^)\s]*\)")
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+")
_TABLE_RULE = re.compile(r"(?m)^[ \t]*\|?(?:[ \t]*:?-{3,}:?[ \t]*\|)+[ \t]*(?::?-{3,}:?)?[ \t]*$")
_REGEX = re.compile(r"\\[dwsbDWSB.]|\[[A-Za-z0-9]-[A-Za-z0-9]")
_TAG = re.compile(r"</?[a-z][\w-]*(?:\s[^<>]*)?>")
_ALPHABETS_FREE = {"CJK", "GREEK", "COMMON"}


@dataclass(frozen=True)
class _Stretch:
    """A periodic stretch: `period` items repeated over `length` items from `start`."""

    start: int
    length: int
    period: int

    @property
    def repeats(self) -> int:
        return self.length // self.period


def _periodic_stretches(items: Sequence[str], max_period: int, min_repeats: int) -> list[_Stretch]:
    """Every maximal stretch where items[i] == items[i + period], for each period up to a bound,
    that holds the period at least `min_repeats` times. (The comparisons become a byte string,
    so that a regular expression finds the runs at C speed: answers can be long.)"""
    found: list[_Stretch] = []
    n = len(items)
    for period in range(1, min(max_period, n // 2) + 1):
        same = bytes(map(operator.eq, items, items[period:]))
        shortest = (min_repeats - 1) * period
        for run in re.finditer(b"\x01{%d,}" % shortest, same):
            found.append(_Stretch(run.start(), run.end() - run.start() + period, period))
    return found


def _quote(pattern: str) -> str:
    return repr(pattern if len(pattern) <= 40 else pattern[:37].rstrip() + "...")


# -- characters ------------------------------------------------------------------------------


def _blank(text: str) -> bool:
    return all(unicodedata.category(ch) in _INVISIBLE for ch in text)


def _broken_characters(text: str) -> str | None:
    found = _BROKEN.findall(text)
    if not found:
        return None
    replaced = found.count("\ufffd")
    if replaced:
        return f"{replaced} undecodable byte(s) shown as U+FFFD"
    return f"{len(found)} control character(s) such as {found[0]!r}"


def _unpaired_bos_eos(text: str) -> re.Match[str] | None:
    """`<s>` or `</s>` that is not HTML strikethrough: one without its partner."""
    opened = closed = 0
    for tag in _BOS_EOS.finditer(text):
        if tag.group(0) == "<s>":
            opened += 1
        elif opened > closed:
            closed += 1
        else:
            return tag
    if opened > closed:
        return next(t for t in reversed(list(_BOS_EOS.finditer(text))) if t.group(0) == "<s>")
    return None


def _drop_marks(text: str) -> str:
    """Without combining marks (Devanagari vowel signs, accents in NFD): they belong to the letter
    before them, and `re`'s word class and `str.isalnum` would count them as symbols."""
    return "".join(ch for ch in text if not unicodedata.category(ch).startswith("M"))


def _symbol_soup(text: str) -> str | None:
    visible = [m.group(0)[0] for m in re.finditer(r"(\S)\1*", text)]
    alnum = sum(ch.isalnum() for ch in visible)
    if alnum == 0:
        chars = [ch for ch in text if not ch.isspace()]
        emoji = any(unicodedata.category(ch) == "So" for ch in chars)
        parts = all(unicodedata.category(ch) in _EMOJI_PARTS for ch in chars)
        if emoji and parts and len(chars) <= MAX_EMOJI_CHARS:
            return None
        return "no letters or digits"
    share = alnum / len(visible)
    if len(visible) >= MIN_SOUP_CHARS and share < MIN_ALNUM_SHARE:
        return f"mostly punctuation or symbols ({int(share * 100)}% letters or digits)"
    return None


def _few_characters(text: str) -> str | None:
    visible = [m.group(0)[0] for m in re.finditer(r"(\S)\1*", text)]
    distinct = len(set(visible))
    if len(visible) >= MIN_VARIETY_CHARS and distinct < MIN_DISTINCT_CHARS:
        return f"only {distinct} distinct characters in {len(visible)}"
    return None


def _script(ch: str) -> str | None:
    """The writing system of a letter (or a non-ASCII digit), CJK scripts as one; else None."""
    if not (ch.isalpha() or (ch.isdecimal() and not ch.isascii())):
        return None
    try:
        name = unicodedata.name(ch)
    except ValueError:
        return "UNKNOWN"
    first = name.split()[0]
    if first in {"CJK", "HIRAGANA", "KATAKANA", "HANGUL", "BOPOMOFO", "IDEOGRAPHIC"}:
        return "CJK"
    if first in {"HALFWIDTH", "FULLWIDTH"}:
        return "CJK" if "KATAKANA" in name or "HANGUL" in name else "LATIN"
    if first.startswith("KATAKANA-HIRAGANA"):
        return "CJK"
    if first in {"ARABIC-INDIC", "EXTENDED"} and "ARABIC" in name:
        return "ARABIC"
    if first in {"MODIFIER", "MICRO", "MATHEMATICAL", "DOUBLE-STRUCK", "SCRIPT"}:
        return "COMMON"
    return first


def _mixed_scripts(text: str) -> str | None:
    counts: dict[str, int] = {}
    mixed: list[str] = []
    for word in text.split():
        scripts = {s for s in map(_script, word) if s is not None}
        for s in map(_script, word):
            if s is not None:
                counts[s] = counts.get(s, 0) + 1
        alphabets = scripts - _ALPHABETS_FREE
        if len(alphabets) > 1:
            mixed.append(word)
    if len(mixed) >= MIN_MIXED_WORDS:
        return f"letters of two alphabets in one word ({len(mixed)} words such as {mixed[0]!r})"
    if not counts:
        return None
    main = max(counts, key=lambda s: counts[s])
    strays = sorted(
        s
        for s, n in counts.items()
        if n <= MAX_STRAY_LETTERS and s != main and s not in _ALPHABETS_FREE and s != "LATIN"
    )
    if len(strays) >= MIN_STRAY_SCRIPTS:
        return f"stray letters from {len(strays)} other scripts ({', '.join(strays).lower()})"
    return None


# -- echo ------------------------------------------------------------------------------------


def _letters_and_digits(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).casefold() if ch.isalnum())


def _weight(text: str) -> int:
    return sum(2 if _script(ch) == "CJK" else 1 for ch in text)


def _echo(text: str, prompt: str | None) -> str | None:
    if not prompt:
        return None
    asked = _letters_and_digits(prompt)
    if _weight(asked) < MIN_ECHO_WEIGHT:
        return None
    said = _letters_and_digits(text)
    if asked not in said:
        return None
    rest = said.replace(asked, "")
    if _weight(rest) < len(asked) // 4 + 2:
        times = said.count(asked)
        return "the prompt echoed back" + (f" {times} times" if times > 1 else "")
    return None


# -- loops -----------------------------------------------------------------------------------


def _numbers_only(units: Sequence[re.Match[str]]) -> bool:
    return all(not any(ch.isalpha() for ch in u.group(0)) for u in units)


def _unit_repetition(text: str, units: list[re.Match[str]]) -> str | None:
    best: _Stretch | None = None
    folded = [u.group(0).casefold() for u in units]
    for stretch in _periodic_stretches(folded, MAX_UNIT_PERIOD, SHORT_REPEATS):
        pattern = units[stretch.start : stretch.start + stretch.period]
        needed = NUMBER_REPEATS if _numbers_only(pattern) else MIN_REPEATS
        half = stretch.length > MIN_COVERAGE * len(units)
        mostly = stretch.repeats >= needed and half
        thrice = (
            stretch.repeats >= SHORT_REPEATS
            and stretch.period >= SHORT_MIN_PERIOD
            and stretch.length >= SHORT_MIN_UNITS
            and half
            and not _numbers_only(pattern)
        )
        tail = stretch.repeats >= TAIL_REPEATS and stretch.length >= TAIL_UNITS
        if (mostly or thrice or tail) and (best is None or stretch.length > best.length):
            best = stretch
    if best is None:
        return None
    first, last = units[best.start], units[best.start + best.period - 1]
    return (
        f"{_quote(text[first.start() : last.end()])} repeats {best.repeats} times "
        f"({best.length} of {len(units)} units)"
    )


def _char_repetition(text: str) -> str | None:
    chars = _RULE_RUN.sub(r"\1", "".join(text.split()))
    best: _Stretch | None = None
    for stretch in _periodic_stretches(chars, MAX_CHAR_PERIOD, MIN_REPEATS):
        if (
            stretch.length <= MAX_NUMBER_CHARS
            and _NUMERIC.fullmatch(chars, stretch.start, stretch.start + stretch.length)
            and not _digit_run(chars, stretch)
        ):
            continue
        if (
            stretch.repeats >= MIN_REPEATS
            and stretch.length >= MIN_CHAR_STRETCH
            and stretch.length > MIN_COVERAGE * len(chars)
            and (best is None or stretch.length > best.length)
        ):
            best = stretch
    if best is None:
        return None
    pattern = chars[best.start : best.start + best.period]
    return (
        f"{_quote(pattern)} repeats {best.repeats} times ({best.length} of {len(chars)} characters)"
    )


def _digit_run(chars: str, stretch: _Stretch) -> bool:
    """A number made of one digit only, 12 or more long (`666666666666`): what a model whose
    weights or kernels are broken emits, never a quantity. A run inside a number
    (`1000000000000`, `0.3333333333333333`) is a quantity."""
    start, end = stretch.start, stretch.start + stretch.length
    return (
        stretch.period == 1
        and chars[start].isdigit()
        and stretch.length >= MIN_DIGIT_RUN
        and (start == 0 or not _NUMERIC.match(chars[start - 1]))
        and (end == len(chars) or not _NUMERIC.match(chars[end]))
    )


def _near_loop(text: str, units: list[re.Match[str]]) -> str | None:
    """Share of units inside a 6-unit run seen before: what a compressor would not store again."""
    n = len(units)
    if n < MIN_SHINGLE_UNITS:
        return None
    folded = [u.group(0).casefold() for u in units]
    seen: dict[tuple[str, ...], int] = {}
    covered = [False] * n
    first_repeat: tuple[int, int] | None = None
    for i in range(n - SHINGLE + 1):
        gram = tuple(folded[i : i + SHINGLE])
        if gram in seen:
            covered[i : i + SHINGLE] = [True] * SHINGLE
            if first_repeat is None:
                first_repeat = (seen[gram], i)
        else:
            seen[gram] = i
    share = sum(covered) / n
    if share < MAX_SHINGLE_COVERAGE or first_repeat is None:
        return None
    start = units[first_repeat[0]]
    end = units[min(first_repeat[0] + SHINGLE, n) - 1]
    return (
        f"loops: {int(share * 100)}% of the text repeats earlier parts, "
        f"such as {_quote(text[start.start() : end.end()])}"
    )


def _low_diversity(units: list[re.Match[str]]) -> str | None:
    """Distinct words per block of 50 (the mean over the blocks), so that a long text, which
    repeats its common words more, is not held to a short one's standard."""
    words = [u.group(0).casefold() for u in units if u.group(0)[0].isalnum()]
    if len(words) < MIN_DIVERSITY_WORDS:
        return None
    blocks = [words[i : i + DIVERSITY_BLOCK] for i in range(0, len(words), DIVERSITY_BLOCK)]
    if len(blocks) > 1 and len(blocks[-1]) < MIN_DIVERSITY_WORDS:
        blocks[-2:] = [blocks[-2] + blocks[-1]]
    ratio = sum(len(set(block)) / len(block) for block in blocks) / len(blocks)
    if ratio < MIN_DIVERSITY:
        return f"low diversity ({int(ratio * 100)}% distinct words per {DIVERSITY_BLOCK})"
    return None


# -- garbled words ---------------------------------------------------------------------------


def _looks_like_code(text: str) -> bool:
    if "```" in text or _REGEX.search(text) or len(_TAG.findall(text)) >= 2:
        return True
    lines = [line for line in text.splitlines() if line.strip()]
    code = sum(bool(_CODE_LINE.search(line)) for line in lines)
    return code >= 1 and code * 3 >= len(lines)


def _class(ch: str) -> str:
    return "L" if ch.isalpha() else "D" if ch.isdigit() else "P"


def _odd_case(core: str) -> bool:
    """Twice a lower-case letter then a capital that ends the word or precedes another capital
    (`ParisYFranceitJ`); once is a brand or an acronym (`OpenAI`, `PyPI`, `macOS`)."""
    if sum(ch.isalpha() for ch in core) < MIN_CASE_WORD:
        return False
    odd = 0
    for i in range(1, len(core)):
        if core[i - 1].islower() and core[i].isupper():
            after = core[i + 1] if i + 1 < len(core) else ""
            odd += not after.islower()
    return odd >= 2


def _garbled(word: str) -> bool:
    core = word.lstrip(_LEAD).rstrip(_TRAIL)
    if not any(ch.isalpha() for ch in core) or _CJK_CHAR.search(core):
        return False  # CJK runs whole sentences together: not words
    if _CALL.match(core) or _KWARG.match(core) or _HEX.fullmatch(core):
        return False  # path.mkdir(parents=True, in prose: code; a digest
    if any(ch in _RARE for ch in core[1:-1]) or core[-1] in _RARE - set("!?;"):
        return True
    hard = [_class(ch) for ch in core if ch not in _SOFT]
    switches = sum(a != b for a, b in itertools.pairwise(hard))
    if switches >= MIN_SWITCHES and "P" in hard:
        return True
    lower = sum(ch.islower() for ch in core)
    if switches >= MIN_SWITCHES and lower >= 2:  # HParis2DH4the, not C6H12O6
        return True
    return _odd_case(core)


def _garbled_words(text: str) -> str | None:
    if _looks_like_code(text):
        return None
    text = _URL.sub(" ", _INLINE_CODE.sub(" ", _MD_LINK.sub(r"\1", text)))
    words = [w for w in text.split() if any(ch.isalpha() for ch in w)]
    letters = [sum(ch.isalpha() for ch in w) for w in words]
    if len(words) < MIN_GARBLED_WORDS or sum(letters) < MIN_GARBLED_LETTERS:
        return None
    garbled = [(w, n) for w, n in zip(words, letters, strict=True) if _garbled(w)]
    share = sum(n for _, n in garbled) / sum(letters)
    if share >= MIN_GARBLED_SHARE:
        return (
            f"garbled words ({len(garbled)} of {len(words)}, such as {_quote(garbled[0][0])}), "
            "not language"
        )
    return None


def degenerate_reason(text: str, prompt: str | None = None) -> str | None:
    """None when `text` looks like language, else a one-line reason (see the module docstring).
    `prompt`, when given, is what the model was asked, to catch an answer that only echoes it."""
    if _blank(text):
        return "empty answer"
    broken = _broken_characters(text)
    if broken:
        return broken
    leak = _LEAKS.search(text) or _unpaired_bos_eos(text)
    if leak:
        return f"leaked chat-template token {leak.group(0).strip()!r}"
    echo = _echo(text, prompt)
    if echo:
        return echo
    text = _drop_marks(text)
    soup = _symbol_soup(text) or _mixed_scripts(text)
    if soup:
        return soup
    body = _LIST_MARKER.sub("", _TABLE_RULE.sub("", text))
    units = list(_UNIT.finditer(body))
    return (
        _unit_repetition(body, units)
        or _char_repetition(body)
        or (None if _looks_like_code(text) else _near_loop(body, units))
        or _low_diversity(units)
        or _few_characters(text)
        or _garbled_words(text)
    )
