"""The review comment cannot be steered from the pull request (issue #23): a stack file name, a
value, a reason, a ref or an error text holding `</details>`, backticks, `@everyone` or HTML stays
text; every `secure:` value is masked, the error block included."""
from tunestack.errors import Problem
from tunestack.review import StackSnapshot, compare_stack, to_markdown
from tunestack.review.git import secure_values

HOSTILE = "x</details><img src=x onerror=alert(1)> @everyone `a` | ```"


def plan(text, reason="why"):
    return {"settings": {"app": {"NOTE": {"text": text, "value": text, "reason": reason}}}, "budgets": [],
            "warnings": []}


def structure(md: str) -> tuple[int, int, int]:
    """What GitHub reads as markup outside code blocks: `</details>` lines, fences, and mentions."""
    closes = mentions = fences = 0
    fence = None
    for line in md.splitlines():
        if fence is None and line.startswith("```"):
            fence, fences = line.rstrip("diff"), fences + 1
        elif fence is not None and line == fence:
            fence, fences = None, fences + 1
        elif fence is None:
            closes += line.strip() == "</details>"
            mentions += line.count("@everyone")
    assert fence is None, "every code block is closed"
    return closes, fences, mentions


def test_hostile_text_from_the_pull_request_stays_text():
    base = StackSnapshot(plan=plan("old"))
    head = StackSnapshot(plan=plan(HOSTILE, reason=HOSTILE))
    review = compare_stack(HOSTILE, base, head)
    broken = compare_stack("prod", base, StackSnapshot(error="invalid stack file:\n```\n</details>\n@everyone"))
    md = to_markdown({"base": HOSTILE, "head": "working tree"}, [review, broken], limit=None)
    closes, fences, mentions = structure(md)
    assert closes == 2, "only the two stacks' own sections close a <details>"
    assert mentions == 0 and "<img" not in md and "&lt;img" in md
    assert fences % 2 == 0 and "````" in md, "the error block's fence is longer than the backticks inside"


def test_a_secure_value_under_a_mistyped_key_is_masked_in_the_error_block():
    ciphertext = "v1:AAAA-CIPHERTEXT-OF-A-MISTYPED-KEY"
    doc = {"tunestack:dbPasword": {"secure": ciphertext}, "tunestack:app": {"x": [{"secure": "v1:NESTED"}]}}
    secrets = secure_values(doc)
    assert secrets == {"tunestack:dbPasword": ciphertext, "tunestack:app.x[0]": "v1:NESTED"}
    error = Problem("stacks/Pulumi.prod.yaml", "config → tunestack:dbPasword", doc["tunestack:dbPasword"],
                    "known keys", "did you mean 'tunestack:dbPassword'?").render()
    assert ciphertext not in error and "secure" in error, "the loader never echoes a secret"
    leaked = f"invalid stack file: value {ciphertext}"   # were anything to echo it, the review masks it
    review = compare_stack("prod", None, StackSnapshot(error=leaked, secrets=secrets))
    md = to_markdown({"base": "main", "head": "working tree"}, [review], limit=None)
    assert ciphertext not in md and "••••••" in md
