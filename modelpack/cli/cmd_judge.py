"""`modelpack judge [FILE|-] [--prompt TEXT] [--expect REGEX] [--json]`: judge any text the way
the smoke test judges an answer (modelpack.core.results.judge); exit 0 pass, 1 fail."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.command("judge", short_help="Judge a model's answer: degenerate or not, matches or not.")
@click.argument("file", required=False, default="-", metavar="[FILE|-]")
@click.option("--prompt", metavar="TEXT", help="What the model was asked (catches an echo).")
@click.option("--expect", metavar="REGEX", help="A pattern the answer must contain (re.search).")
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as a JSON object.")
def judge_command(file: str, prompt: str | None, expect: str | None, *, as_json: bool) -> None:
    """Judge the answer in FILE (default, or `-`: standard input) as the smoke test does:
    empty, degenerate (loops, leaked template tokens, symbol soup, mixed scripts, garbled
    words, the prompt echoed back) or not matching --expect fails. Exit 0 on a pass, 1 on a
    fail, with the reasons. Bytes that are not UTF-8 are part of the verdict (they fail), not
    an error. Without --expect a pass only proves the text is not degenerate.
    """
    from modelpack.core.inputs import ANSWER_LIMIT, read_bytes, size_text
    from modelpack.core.results.judge import judge_text
    from modelpack.errors import InputError

    if file == "-":
        data = sys.stdin.buffer.read(ANSWER_LIMIT + 1)
        source = "<stdin>"
        if len(data) > ANSWER_LIMIT:
            raise InputError(
                f"the answer is larger than {size_text(ANSWER_LIMIT)}, the most modelpack judges",
                source=source,
                hint="judge a part of it",
            )
    else:
        source = file
        try:
            data = read_bytes(Path(file), limit=ANSWER_LIMIT, what="answer")
        except FileNotFoundError:
            raise InputError(
                "no such file", source=source, hint="give the answer's file, or - for stdin"
            ) from None
    text = data.decode("utf-8", errors="replace").removeprefix("\ufeff")
    verdict = judge_text(text, prompt=prompt, expect=expect)

    if as_json:
        payload = {
            "source": source,
            "passed": verdict.passed,
            "failures": verdict.failures,
            "notes": verdict.notes,
            "prompt": prompt,
            "expect": expect,
        }
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        from modelpack.cli.output import sanitize

        click.echo("pass" if verdict.passed else "FAIL")
        for line in verdict.failures:
            click.echo(f"  {sanitize(line)}")
        for line in verdict.notes:
            click.echo(f"note: {sanitize(line)}")
    if not verdict.passed:
        raise click.exceptions.Exit(1)
