"""Deterministic sandbox text: a tokenizer, plausible paragraphs and example citations.

The tokenizer is lossless: ``"".join(tokenize(text)) == text``. A token is an optional run of
whitespace followed by up to four word characters or one punctuation mark, so the sandbox counts
input and output the same way and can stream an answer token by token.
"""

from __future__ import annotations

import hashlib
import random
import re
from functools import lru_cache

_TOKEN = re.compile(r"\s*(?:\w{1,4}|[^\w\s])|\s+")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]{3,}")

_STOPWORDS = frozenset(
    "about above after again also because been before being below between both could does "
    "doing down during each from further have having here into itself just more most once only "
    "other over same should some such than that their them then there these they this those "
    "through under until very were what when where which while whom with would your yours "
    "please write give tell explain make list short brief answer question compare contrast "
    "describe summarise summarize discuss outline draft create generate provide show help want "
    "need three four five several many approaches approach ways using best good".split()
)
_OPENERS = (
    "This is a sandbox answer from {model}; no real model was called.",
    "This sandbox reply from {model} was generated locally for testing.",
    "Here is a simulated sandbox response from {model}.",
)
_SENTENCES = (
    "A {adj} way to approach {topic} is to {verb} the {noun} first and check the result {adv}.",
    "Most teams find that {topic} depends on the {noun} more than on any single {noun2}.",
    "It helps to {verb} each {noun} {adv}, then compare it with the {adj} {noun2}.",
    "When {topic} grows, the {noun} tends to become {adj}, so plan the {noun2} early.",
    "In practice, {topic} rewards people who {verb} the {noun} and keep the {noun2} {adj}.",
    "One {adj} trade-off is between the {noun} and the {noun2}; measure both {adv}.",
    "Start small: {verb} a single {noun}, note what changes, and extend it {adv}.",
    "The {adj} part of {topic} is usually the {noun}, not the {noun2}.",
    "A good checklist would {verb} the {noun}, review the {noun2}, and repeat {adv}.",
)
_ADJECTIVES = (
    "practical", "careful", "simple", "robust", "measured", "clear", "steady", "flexible",
    "reliable", "modest", "focused", "balanced",
)
_NOUNS = (
    "plan", "budget", "baseline", "workflow", "estimate", "constraint", "schedule", "design",
    "dataset", "prototype", "summary", "requirement", "metric", "draft", "outline", "review",
)
_VERBS = ("outline", "test", "measure", "simplify", "document", "review", "compare", "validate")
_ADVERBS = ("carefully", "regularly", "early", "step by step", "in small batches", "honestly")
_TIER_SENTENCES = {"economy": 3, "balanced": 5, "premium": 7}


def tokenize(text: str) -> list[str]:
    """Split text into sandbox tokens; joining them gives the text back."""
    return _TOKEN.findall(text)


def count_tokens(text: str) -> int:
    """How many sandbox tokens the text holds."""
    return len(_TOKEN.findall(text))


def seeded_rng(*parts: object) -> random.Random:
    """A random generator seeded by a stable hash of the parts (not Python's salted hash)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


@lru_cache(maxsize=4096)
def sandbox_text(seed: int, model_id: str, prompt: str, tier: str, topic_source: str = "") -> str:
    """A varied paragraph that depends only on its arguments and says it is a sandbox answer.

    Higher tiers and longer prompts give longer paragraphs; the topic comes from
    ``topic_source`` (the last user message) or else the prompt.
    """
    rng = seeded_rng(seed, model_id, prompt)
    topic = _topic(topic_source or prompt)
    count = _TIER_SENTENCES.get(tier, 4) + min(6, count_tokens(prompt) // 40) + rng.randint(0, 2)
    sentences = [rng.choice(_OPENERS).format(model=model_id)]
    for template in _pick(rng, _SENTENCES, count):
        nouns = rng.sample(_NOUNS, 2)
        sentence = template.format(
            topic=topic,
            adj=rng.choice(_ADJECTIVES),
            noun=nouns[0],
            noun2=nouns[1],
            verb=rng.choice(_VERBS),
            adv=rng.choice(_ADVERBS),
        )
        sentences.append(sentence[0].upper() + sentence[1:])
    return " ".join(sentences)


def example_citations(seed: int, model_id: str, prompt: str, count: int = 3) -> list[str]:
    """A few deterministic example.com URLs standing in for web-search citations."""
    rng = seeded_rng("citations", seed, model_id, prompt)
    slug = "-".join(_topic(prompt).split()[:3]) or "sandbox"
    return [
        f"https://example.com/sandbox/{slug}/{rng.randrange(1000, 9999)}-{i + 1}"
        for i in range(count)
    ]


def _topic(prompt: str) -> str:
    """Up to three distinctive words of the prompt, or a neutral phrase."""
    words: list[str] = []
    for word in _WORD.findall(prompt):
        lowered = word.lower().strip("'-")
        if lowered not in _STOPWORDS and lowered not in words:
            words.append(lowered)
        if len(words) == 3:
            break
    return " ".join(words) if words else "the request"


def _pick(rng: random.Random, items: tuple[str, ...], count: int) -> list[str]:
    """``count`` items, cycling through shuffled copies so repeats are spread out."""
    picked: list[str] = []
    while len(picked) < count:
        batch = list(items)
        rng.shuffle(batch)
        picked.extend(batch)
    return picked[:count]


# ── hook: answer text from another source ─────────────────────────────────────────────────
# ORCHESTRA_SANDBOX_TEXT=local (SandboxConfig.text) takes the text from the local model
# (core.local.sandbox_text); everything above is unchanged and stays the fallback.
def answer_text(source: str, seed: int, model_id: str, prompt: str, tier: str,
                topic_source: str = "", max_tokens: int | None = None) -> str:
    """The sandbox's answer text: the local model's when ``source`` is ``local`` and it
    answers, else ``sandbox_text``."""
    if source == "local":
        from core.local.sandbox_text import local_answer

        text = local_answer(prompt, max_tokens)
        if text is not None:
            return text
    return sandbox_text(seed, model_id, prompt, tier, topic_source)
