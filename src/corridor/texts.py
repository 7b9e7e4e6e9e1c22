"""Short feedback texts in any language: words, their comparable forms, stopwords and the
terms that set one group's texts apart from the others'.

Nothing here knows English grammar. The steps are the same for every language:

- *Words* are runs of Unicode letters and digits together with the combining marks inside
  them (Arabic short vowels and shadda, the diaeresis of a decomposed ``ё``), so a word
  is never cut at a mark; a word is returned exactly as it stands in the text.
- A word's *key* is what makes two spellings of one word compare equal: Unicode NFKC,
  ``casefold``, combining marks removed after NFD (which also folds ``ё`` to ``е`` and
  the hamza forms of alef ``أ إ آ`` to ``ا``), Arabic ``ى`` → ``ي`` and ``ة`` → ``ه``,
  and a leading conjunction ``و`` and then a definite article ``ال`` (also ``وال``,
  ``بال``, ``فال``, ``كال``, ``لل``) removed, as the light10 Arabic stemmer does (Larkey,
  Ballesteros & Connell, "Improving stemming for Arabic information retrieval", SIGIR
  2002). The key is then cut to its first ``prefix`` characters: truncation is a
  stemmer that needs no language knowledge and works well for inflected languages such
  as Russian (McNamee, Nicholas & Mayfield, "Addressing morphological variation in
  alphabetic languages", SIGIR 2009).
- *Stopwords* are short lists for English, Arabic and Russian written here, matched on
  the folded word (before prefixes are removed or the key is cut); a text whose language
  is unknown is checked against all of them. Words of one character and numbers are
  never terms.
- *Distinctive terms* (:func:`distinctive_terms`) are tf-idf (Salton & Buckley, "Term-
  weighting approaches in automatic text retrieval", 1988) with groups as documents,
  within one language: a key's weight is the share of the group's texts that use it
  times the smoothed idf ln((1 + G) / (1 + g)) + 1, with G groups that have texts in the
  language and g of them using the key. A word every group uses still counts; a word
  only one group uses counts more. A term is shown as its most frequent written form
  (casefolded, marks kept), so it can always be found in the texts it came from.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

PREFIX = 6  # characters of a key kept by truncation stemming
UNKNOWN = "und"  # BCP 47 "undetermined": a text whose language is not given

_ARTICLES = ("وال", "بال", "فال", "كال", "لل", "ال")
_ARABIC_LETTERS = str.maketrans({"ى": "ي", "ة": "ه"})

# Short lists of function words, matched on the folded word (see :func:`fold`).
_STOPWORDS_WRITTEN = {
    "en": """a an the and or but if so to of in on at by for from with without into onto
        about as is are was were be been being am do does did done have has had having
        i me my mine we us our you your he him his she her it its they them their this
        that these those there here what which who whom when where why how all any some
        no not nor only very too just than then also again once more most much many
        can could will would shall should may might must one ones up down out over
        off under after before because while until now get got s t ll ve re d m""",
    "ar": """في من على إلى الى عن مع هذا هذه ذلك تلك هو هي هم هن أنا انا نحن أنت انت
        أنتم انتم كان كانت يكون كل بعض أي اي لا لم لن ما ماذا متى أين اين كيف لماذا
        قد لقد ثم أو او و ف ب ل ك إن ان أن التي الذي الذين اللذين اللتين عند عندي
        لدي لي له لها لهم لنا بي به بها بهم منه منها عنه عنها فيه فيها إلا الا غير
        حتى بين كما أيضا ايضا جدا هناك هنا يا لكن بل الآن الان ولا شيء""",
    "ru": """и в во не что он на я с со как а то все всё она так его но да ты к у же
        вы за бы по только ее её мне было вот от меня еще ещё нет о из ему теперь
        когда даже ну вдруг ли если уже или ни быть был была были него до вас нибудь
        опять уж вам ведь там потом себя ничего ей может они тут где есть надо ней
        для мы тебя их чем сам чтоб без будто чего раз тоже себе под будет ж тогда
        кто этот того потому этого какой совсем ним здесь этом один почти мой тем
        чтобы нее неё сейчас куда зачем всех никогда можно при наконец два об другой
        хоть после над больше тот через эти нас про всего них какая много разве три
        эту моя впрочем хорошо свою этой перед иногда лучше чуть том нельзя такой им
        более всегда конечно всю между это мной мою кого мог""",
}


@dataclass(frozen=True)
class Term:
    """One distinctive term of a group's texts in one language."""

    key: str  # the comparable form (see the module docstring)
    label: str  # its most frequent written form, casefolded, marks kept
    language: str
    texts: int  # texts of the group that use it
    share: float  # of the group's texts in this language
    share_elsewhere: float | None  # of the other groups' texts in this language (None: none)
    weight: float  # share × smoothed inverse group frequency

    def to_dict(self) -> dict:
        return {
            "key": self.key,
            "label": self.label,
            "language": self.language,
            "texts": self.texts,
            "share": self.share,
            "share_elsewhere": self.share_elsewhere,
            "weight": self.weight,
        }


@functools.cache
def _word_pattern() -> re.Pattern:
    # Built on first use, not at import: one pass over the code points for the marks.
    ranges, start, last = [], None, None
    for code in range(0x110000):
        if unicodedata.category(chr(code))[0] == "M":
            if start is None:
                start = code
            last = code
        elif start is not None:
            ranges.append((start, last))
            start = None
    marks = "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in ranges
    )
    return re.compile(f"(?:[^\\W_]|[{marks}])+")


def words(text: str) -> list[str]:
    """The words of ``text`` exactly as written (letters, digits and their marks)."""
    if not isinstance(text, str):
        return []
    return _word_pattern().findall(text)


def language_code(language: object) -> str:
    """The primary language subtag, lower case (``"ru-RU"`` → ``"ru"``); missing → ``und``."""
    if not isinstance(language, str) or not language.strip():
        return UNKNOWN
    return re.split(r"[-_]", language.strip())[0].casefold() or UNKNOWN


def fold(word: str) -> str:
    """``word`` casefolded with its combining marks removed (NFKC, then NFD)."""
    folded = unicodedata.normalize("NFKC", word).casefold()
    plain = "".join(c for c in unicodedata.normalize("NFD", folded) if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", plain).translate(_ARABIC_LETTERS)


def key_of(word: str, *, prefix: int = PREFIX) -> str:
    """The comparable form of a word: folded, Arabic prefixes removed, truncated."""
    folded = fold(word)
    # light10's order: the conjunction wa- first, then the article
    if folded.startswith("و") and len(folded) - 1 >= 3:
        folded = folded[1:]
    for article in _ARTICLES:
        if folded.startswith(article) and len(folded) - len(article) >= 2:
            folded = folded[len(article):]
            break
    return folded[:prefix]


@functools.cache
def stopwords(language: str) -> frozenset[str]:
    """The folded stopwords of a language (none for a language without a list); for an
    unknown language (``und``), those of every list."""
    code = language_code(language)
    lists = _STOPWORDS_WRITTEN.values() if code == UNKNOWN else [_STOPWORDS_WRITTEN.get(code, "")]
    # Matched on the folded word, not the truncated key, so that a long word that merely
    # begins like a stopword is kept.
    return frozenset(fold(w) for text in lists for w in text.split())


def terms(text: str, language: object = None, *, prefix: int = PREFIX) -> list[tuple[str, str]]:
    """(key, written form casefolded) of each content word of ``text``, in order."""
    stop = stopwords(language_code(language))
    out = []
    for word in words(text):
        folded = fold(word)
        if len(folded) < 2 or folded.isdigit() or folded in stop:
            continue
        if folded.startswith("و") and folded[1:] in stop:  # Arabic "and" + a stopword
            continue
        out.append((key_of(word, prefix=prefix), unicodedata.normalize("NFC", word.casefold())))
    return out


def distinctive_terms(
    texts_by_group: Mapping[str, Sequence[str]],
    language: object,
    *,
    top: int = 8,
    min_texts: int = 2,
    prefix: int = PREFIX,
) -> dict[str, tuple[Term, ...]]:
    """For each group, its ``top`` terms in one language by tf-idf across the groups
    (terms used in fewer than ``min_texts`` of the group's texts are left out)."""
    code = language_code(language)
    split = {
        group: [terms(t, code, prefix=prefix) for t in texts if isinstance(t, str)]
        for group, texts in texts_by_group.items()
    }
    return distinctive_terms_of(split, code, top=top, min_texts=min_texts)


def distinctive_terms_of(
    terms_by_group: Mapping[str, Sequence[Sequence[tuple[str, str]]]],
    language: object,
    *,
    top: int = 8,
    min_texts: int = 2,
) -> dict[str, tuple[Term, ...]]:
    """:func:`distinctive_terms` of texts already split by :func:`terms` (one list of
    (key, written form) per text)."""
    code = language_code(language)
    usage: dict[str, Counter] = {}  # group -> key -> texts using it
    written: dict[str, Counter] = {}  # key -> written form -> uses
    sizes: dict[str, int] = {}
    for group, texts in terms_by_group.items():
        counts: Counter = Counter()
        for found in texts:
            for key, form in found:
                written.setdefault(key, Counter())[form] += 1
            counts.update({key for key, _ in found})
        usage[group], sizes[group] = counts, len(texts)
    present = [g for g in usage if sizes[g]]
    groups_using = Counter(key for g in present for key in usage[g])
    total_texts = sum(sizes.values())
    total_usage: Counter = Counter()
    for g in present:
        total_usage.update(usage[g])
    result: dict[str, tuple[Term, ...]] = {}
    for group in terms_by_group:
        n = sizes[group]
        elsewhere = total_texts - n
        found = []
        for key, used in usage[group].items():
            if used < min_texts:
                continue
            other = (total_usage[key] - used) / elsewhere if elsewhere else None
            idf = math.log((1 + len(present)) / (1 + groups_using[key])) + 1
            label = min(written[key].items(), key=lambda item: (-item[1], item[0]))[0]
            found.append(Term(key, label, code, used, used / n, other, used / n * idf))
        found.sort(key=lambda t: (-t.weight, -t.texts, t.key))
        result[group] = tuple(found[:top])
    return result
