"""Question analysis: the names a question uses, its salient terms, the detail it asks for, and
its form, each resolved against the corpus through indexes built at ingest (BM25 term
statistics and the name index), never by scanning the corpus per question.

    analyzer = Analyzer(lexical, names, papers)
    analyzer.analyze("Compare KIVI and Mooncake") -> QuestionAnalysis
        names: [KIVI -> defined by the KIVI paper, Mooncake -> unknown]

Names are found three ways: a span of the question that the name index knows (any case for a
distinctive name: "scissorhands"; as written for a common-word one: "Sequence Parallelism"),
a name-shaped word (acronym, inner capital, digit: "GPT-4", "vLLM"), or a run of capitalised
words that is not the sentence's opening word ("Segment Anything", "Mistral 7B"). A name no paper
holds is *unknown*: the corpus cannot answer about it.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from paperchat.ingest.names import TOKEN, is_name_shaped, name_key
from paperchat.rag.analysis_types import Detail, Form, NamedItem, QuestionAnalysis

if TYPE_CHECKING:
    from paperchat.ingest.lexical import LexicalIndex
    from paperchat.ingest.names import NameIndex
    from paperchat.ingest.store import StoredPaper
    from paperchat.settings import AnalysisSettings


_VERSION = re.compile(r"v?\d+(?:\.\d+)*[a-z]?", re.IGNORECASE)  # "2", "v3", "3.5", "4o"
_TOKEN = TOKEN
# BM25 drops these, so no paper "holds" them.
_BM25_STOPWORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their "
    "then there these they this to was will with".split()
)
# Words that are never part of a name, even capitalised ("What", "Compare", "The").
_FUNCTION = frozenset(
    """a an and are as at be been being but by can could compare contrast describe did differ
    difference do does done explain for from give has have how i if in into is it its list me
    my of on or our outline please show summarise summarize tell than that the their them then
    there these they this those to us versus vs was we were what when where which who whom whose
    why will with would you your about any some all also between both each either more most
    other same such what's how's whats hows vs. overview survey find papers paper work works
    approach approaches method methods technique techniques way ways idea ideas do don't
    should shall may might must paperchat corpus""".split()
)
# Words a question uses to ask, not to say what it is about: left out of the salient terms.
_QUESTION_WORDS = _FUNCTION | _BM25_STOPWORDS | frozenset(
    """used use uses using new recent best better good main key kind kinds type types thing
    things know known mean means example examples help helps make makes made get gets work
    working someone people anyone much many wrote written write whatever nothing none
    researcher researchers propose proposed proposes present
    presents introduce introduced study studies studied""".split()
)

_COMPARISON = re.compile(
    r"\b(?:compare[sd]?|comparing|comparison|versus|vs\.?|differ(?:s|ence|ences)?|"
    r"contrast|better than|worse than|faster than|trade-?offs? between)\b|"
    r"\bhow (?:do|does) .+ (?:relate|stack up)|\bor\b.*\bwhich\b|\bwhich is (?:better|faster)",
    re.IGNORECASE,
)
_SURVEY = re.compile(
    r"\b(?:summari[sz]e|summary|overview|survey|approaches|methods|techniques|strategies|"
    r"ways|which papers|what papers|which (?:works|methods|models|approaches|systems)|"
    r"list|papers (?:on|about|that)|state of the art|how do (?:people|researchers|papers)|"
    r"what are (?:the )?(?:main |common |different )?(?:ways|approaches|methods|techniques)|"
    r"(?:what|which) (?:other )?(?:work|works|research|studies)|what has been (?:done|learned|"
    r"proposed|tried)|how have (?:researchers|people|papers|authors|others)|"
    r"what do (?:papers|researchers|studies) (?:say|do|propose))\b",
    re.IGNORECASE,
)
# A question that asks for one thing: "Which post-training method shrinks ...?", "Is there a
# training-free way to ...?". (Plurals, "which papers", are surveys.)
_SINGLE = re.compile(
    r"^\s*(?:(?:which|what) (?:[\w-]+ ){0,2}?(?:method|technique|approach|system|framework|"
    r"algorithm|architecture|tool|library|strategy|mechanism|scheme|trick|idea|procedure|recipe|"
    r"optimi[sz]er|kernel|compiler|protocol|paper)|is there (?:a|an|one)|name (?:a|one))\b",
    re.IGNORECASE,
)
_ABOUT = re.compile(
    r"^\s*(?:what(?:'s| is| are| does| do)|tell me about|explain|describe|who|how does|"
    r"how do)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _DetailKind:
    kind: str
    asked: re.Pattern[str]  # in the question
    words: str  # "its training hyperparameters"
    given: re.Pattern[str]  # in an abstract that reports it
    # A yes/no question asks it too: "Is CORAG open source?" asks whether the code is out.
    yes_no: bool = False


def _re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_NUMBER = r"\d[\d,.]*\s*"
# Details a question can ask about a paper that an abstract may or may not report. Each says how
# an abstract reports it; a paper whose abstract does not is answered "in part".
DETAILS: tuple[_DetailKind, ...] = (
    _DetailKind("context length", _re(r"\bcontext (?:length|window|size)s?\b|\bsequence lengths?\b|"
                                      r"\bmax(?:imum)? (?:input |sequence |context )?length\b"),
                "the context length it uses",
                _re(r"\d[\d,.]*\s*[km]?\s*(?:-\s*)?tokens?\b|\b\d+\s*k\b|(?:context|sequence) "
                    r"(?:length|window|size)s? (?:of|up to|=)\s*\d|\b(?:512|1024|2048|4096|8192|"
                    r"16384|32768|65536|131072)\b|\bmillion[- ]tokens?\b")),
    _DetailKind("implementation", _re(r"\b(?:implemented|written|coded|programmed) in\b|"
                                      r"\bprogramming languages?\b|\b(?:which|what) (?:\S+ )?"
                                      r"librar(?:y|ies)\b"),
                "how it is implemented",
                _re(r"\b(?:python|pytorch|tensorflow|jax|keras|c\+\+|cuda|triton|rust|java|julia|"
                    r"matlab|scikit-learn|numpy|hugging ?face|librar(?:y|ies))\b")),
    _DetailKind("learning rate", _re(r"\blearning[- ]rates?\b(?![- ]?(?:schedul|warm|decay))|"
                                    r"\blr\b"),
                "the learning rate it used",
                _re(r"learning[- ]rates? (?:of|=|is|was|set)|\blr\s*=|\d(?:e-\d+)")),
    _DetailKind("hyperparameters", _re(r"\bhyper-?param\w*|\bwarm-?up(?: steps?)?\b|\bepochs?\b|"
                                       r"\bweight decay\b|\bdropout (?:rate|probability)\b|"
                                       r"\brandom seeds?\b|\bhow many (?:training )?(?:steps|"
                                       r"iterations|updates)\b"),
                "its training hyperparameters",
                _re(r"hyper-?param\w* (?:of|=|is|are|were|set to)|learning[- ]rate of|"
                    r"batch size of|weight decay of|\bwarm-?up of|\d+\s*epochs|"
                    r"\d+\s*(?:k\s*)?(?:training )?(?:steps|iterations)\b")),
    _DetailKind("batch size", _re(r"\bbatch[- ]sizes?\b"), "the batch size it used",
                _re(r"batch[- ]sizes? (?:of|=|is|was)\s*\d|\d+\s*(?:sequences|samples|tokens) "
                    r"per batch")),
    _DetailKind("optimizer", _re(r"\b(?:which|what) optimi[sz]er\b|\boptimi[sz]er (?:did|does|"
                                 r"was|is)\b"),
                "the optimizer it trained with",
                _re(r"\b(?:adamw?|sgd|lion|adafactor|lamb|shampoo|sophia)\b")),
    _DetailKind("gpu count", _re(r"\bhow many (?:gpus?|tpus?|accelerators|nodes|machines|"
                                 r"servers|chips)\b|\bnumber of (?:gpus?|tpus?|nodes)\b"),
                "how many GPUs it used",
                _re(_NUMBER + r"(?:k\s*)?(?:nvidia\s*)?(?:[ahv]100|h200|b200|gpus?|tpus?|"
                    r"tpu ?v\d|accelerators|nodes|chips)\b")),
    _DetailKind("hardware", _re(r"\b(?:which|what) (?:kind of |type of )?(?:gpus?|hardware|"
                                r"accelerators?|chips?|devices?|cluster)\b|\b(?:on|using|with) "
                                r"(?:which|what) (?:gpus?|hardware|machines?|devices?)\b"),
                "the hardware it was run on",
                _re(r"\b(?:[ahlv]100|h20|h200|b200|l40s?|a10g?|t4|rtx ?\d+|a6000|tpu ?v\d|"
                    r"gaudi\d?|mi\d{3}x?|jetson|raspberry pi|snapdragon|apple m\d|nvidia|"
                    r"amd|intel|fpgas?|npus?|mobile|edge devices?|smartphones?|laptops?)\b|"
                    # "a single GPU" says what kind of hardware, unless a model was asked for
                    r"\b(?:single|commodity|consumer|multiple|\d+) (?:gpus?|cpus?)\b")),
    _DetailKind("base model", _re(r"\b(?:which|what) (?:base|backbone|foundation|pre-?trained|"
                                  r"underlying|teacher|starting|initial|open[- ]source|"
                                  r"open[- ]weights?) (?:language )?(?:models?|llms?)\b|"
                                  r"\b(?:initiali[sz]ed|fine-?tuned|distilled|built) (?:on|from) "
                                  r"(?:which|what)\b|\bwhich model (?:is|was) \w+ "
                                  r"(?:built|based) on\b"),
                "the model it builds on",
                _re(r"\b(?:llama|mistral|mixtral|qwen|gpt-?\d|bert|roberta|t5|vit|clip|resnet|"
                    r"opt|pythia|gemma|phi-?\d|falcon|vicuna|stable diffusion|sam|whisper|"
                    r"deepseek)\w*|\b(?:built|based) (?:up)?on\b|\binitiali[sz]ed (?:from|"
                    r"with)\b|\bfine-?tun\w* (?:from|of)\b")),
    _DetailKind("compute", _re(r"\bgpu[- ]hours?\b|\bgpu[- ]days?\b|\bpetaflop|\bflops?\b.*"
                               r"\btrain|\bcompute (?:budget|cost)|\bhow much compute\b|"
                               r"\btraining cost\b|\bcost to train\b|\bhow (?:much|long) did "
                               r"(?:it|training) (?:cost|take)\b|\btraining time\b|"
                               r"\bhow long (?:does|did) (?:it|training) take|\brun ?times?\b|"
                               r"\brunning time\b|\bwall-?clock\b|\bhow long (?:does|did|do) "
                               r"\S+(?: \S+)? (?:take|run)\b"),
                "its training compute or time",
                _re(_NUMBER + r"(?:gpu|tpu)[- ]?(?:hours?|days?)|" + _NUMBER +
                    r"(?:seconds|minutes|hours|days|weeks)\b|\$\s?\d|" + _NUMBER +
                    r"(?:peta|exa|zetta)?flops")),
    _DetailKind("duration", _re(r"\bhow long (?:did|does|do|was|were|is|are|will|would)\b(?! "
                                r"(?:the |its )?(?:context|sequence|input|prompt|document|"
                                r"text|video|output)s?\b)|\bfor how long\b|\bhow many "
                                r"(?:hours|days|weeks|months|years|minutes)\b|\bduration\b"),
                "how long it took",
                _re(_NUMBER + r"(?:-| )?(?:seconds?|minutes?|hours?|days?|weeks?|months?|"
                    r"years?|ms|min|hrs?)\b")),
    _DetailKind("price", _re(r"\b(?:in|how many) (?:us )?dollars\b|\bdollars? per\b|\busd\b|"
                             r"\bhow much (?:does|did|would|will) (?:it|\S+)(?: \S+)? cost\b|"
                             r"\bprices?\b|\bpricing\b|\bcost per (?:\w+ )?(?:tokens?|"
                             r"queries|query|requests?|hours?)\b"),
                "what it costs in money",
                _re(r"\$\s?\d|\d[\d,.]*\s*(?:[kmb]\s*)?(?:dollars|usd|cents|eur)\b")),
    _DetailKind("dataset", _re(r"\b(?:what|which) (?:data ?sets?|training data|corpus|corpora|"
                               r"benchmarks?)\b|\btrained on what\b|\bdata ?set (?:size|did|"
                               r"was)\b|\bhow (?:much|many) (?:training )?(?:data|tokens|"
                               r"examples|samples|images)\b"),
                "the data it was trained or evaluated on",
                _re(r"\bdata ?sets?\b|\bbenchmarks?\b|\bcorpus\b|\bcorpora\b|\btrained on\b|"
                    + _NUMBER + r"(?:[kmbt]\s*)?(?:tokens|examples|samples|images)")),
    _DetailKind("parameters", _re(r"\bhow many (?:parameters|params|layers|heads)\b|"
                                  r"\bparameter count\b|\bnumber of (?:parameters|layers|"
                                  r"attention heads)\b|\bhow (?:big|large) is\b|\bmodel size\b"),
                "its model size",
                _re(_NUMBER + r"(?:[kmbt]\b|million|billion|trillion)|\d+\s*layers|"
                    r"\d+\s*(?:attention )?heads")),
    _DetailKind("authors", _re(r"\bwho (?:wrote|are the authors|authored|developed|created|"
                               r"proposed)\b|\bauthors?(?:'s)?\b(?=\s*(?:of|are|were|is|was|list|names?|"
                               r"affiliations?)\b|\s*[?.]?\s*$)|\baffiliat\w*|\bwhich (?:lab|labs|"
                               r"university|universities|company|companies|institution|"
                               r"institutions|organi[sz]ations?|team|group)\b"),
                "its authors or their affiliations",
                _re(r"$^")),  # abstracts do not list their authors; only metadata does
    _DetailKind("date", _re(r"\bwhen was\b|\bwhat year\b|\bwhich year\b|"
                            r"\bpublication (?:date|year)\b|\byear (?:of publication|"
                            r"(?:it )?was published)\b|"
                            r"\bpublished (?:when|in which)\b|\brelease date\b"),
                "when it was published",
                _re(r"$^")),
    _DetailKind("license", _re(r"\blicen[cs]e\w*\b|\bcommercial use\b"), "its licence",
                _re(r"\blicen[cs]e")),
    # "is CORAG open source?", "kivi github", "where is the code for X": an abstract gives it
    # with a link or by saying the code is (to be) released; so does a code link in the paper's
    # metadata (``detail_given``). "Which open-source model ..." asks for a model, not this.
    _DetailKind("code", _re(r"\bopen[- ]?sourced?(?=\s*(?:[?.,;]|$|and\b|or\b|yet\b))|"
                            r"\bopen[- ]?sourc\w* (?:it|the code|its code|their code)\b|"
                            r"\bopen[- ]?source (?:implementation|code|release|version)s?\b|"
                            r"\bsource code\b|\bcode\b(?: \S+){0,4}? (?:is |are |was |been )?"
                            r"(?:publicly )?(?:available|released|public)\b|"
                            r"\breleas\w* (?:the |its |their )?(?:code|implementation)\b|"
                            r"\bgithub\b|\b(?:code )?repo(?:sitory)?\b|"
                            r"\bwhere (?:is|can i (?:find|get)) (?:the |its )?code\b|"
                            r"\bcode (?:link|url)\b|\bis there (?:any |public )?code\b"),
                "whether its code is released",
                _re(r"https?://|\bgithub|\bgitlab|huggingface\.co|\bcode\b[^.]{0,60}\b"
                    r"(?:available|released?|public|open)|open[- ]?sourc|\b(?:we|will) (?:\w+ )?"
                    r"(?:release|open)|publicly (?:available|released)|\bavailable (?:at|online|"
                    r"on)\b"), yes_no=True),
    _DetailKind("venue", _re(r"\b(?:which|what) (?:venue|conference|journal)\b|\bpublished "
                             r"(?:at|in) which\b|\baccepted (?:at|to)\b"),
                "where it was published",
                _re(r"\b(?:neurips|icml|iclr|acl|emnlp|naacl|cvpr|iccv|eccv|aaai|ijcai|kdd|"
                    r"sigir|osdi|sosp|mlsys|isca|micro|asplos|conference|journal|accepted)\b")),
)


# A measure asked for in a unit ("latency in milliseconds", "how many GB", "nuscenes fps"): given
# only where the abstract writes a number in that unit, whatever else it says about the measure.
@dataclass(frozen=True)
class _Unit:
    kind: str  # the key a Detail of kind "unit" carries in ``term``
    words: str  # how the answer names it: "a time in seconds or milliseconds"
    asked: str  # the unit words as a question writes them (regex alternatives)
    given: re.Pattern[str]  # a number in that unit, as an abstract writes it
    # "how many UNIT" asks for this unit; not for a count of things ("how many tokens does X
    # drop" is a count, read by ``_COUNTED``) nor for a time ("how many seconds": a duration)
    how_many: bool = True
    also_asked: str = ""  # other wordings that ask for it ("what resolution")


_NUM = r"\d[\d,.]*\s*(?:-\s*)?"
UNITS: tuple[_Unit, ...] = (
    _Unit("time", "a time in seconds or milliseconds",
          r"(?:milli|micro|nano)?seconds?|ms|µs|secs?|minutes?|mins?",
          _re(_NUM + r"(?:(?:milli|micro|nano)-?seconds?|ms|µs|us|ns|seconds?|secs?|s|"
              r"minutes?|mins?|hours?|hrs?|h)\b"), how_many=False),
    _Unit("memory", "an amount of memory in bytes (GB, MB)",
          r"[gmtk]i?b|gigabytes?|megabytes?|terabytes?|bytes",
          _re(_NUM + r"(?:[gmtkp]i?b|gigabytes?|megabytes?|terabytes?|bytes)\b")),
    _Unit("frame rate", "a rate in frames per second", r"fps|frames per second|hz|hertz",
          _re(_NUM + r"(?:fps|frames? per second|frames?/s|k?hz|hertz)\b")),
    _Unit("throughput", "a throughput in items per second",
          r"(?:tokens|queries|requests|samples|images)(?: per second|/s)|tok/s|qps|rps",
          _re(_NUM + r"(?:[km]\s*)?(?:tokens|queries|requests|samples|images|tok)"
              r"(?: per second|/s|/sec)|" + _NUM + r"(?:qps|rps)\b")),
    _Unit("tokens", "a length in tokens", r"tokens",
          _re(_NUM + r"(?:[kmb]\s*)?(?:-\s*)?tokens?\b|\b\d+\s*k\b(?:\s*(?:context|length|"
              r"window|sequences?))?"), how_many=False),
    _Unit("resolution", "a resolution in pixels", r"pixels|resolution",
          _re(r"\d{2,5}\s*[x×]\s*\d{2,5}|\b\d{3,4}p\b|\b[1-8]k\b|" + _NUM +
              r"(?:mega)?pixels?\b"), also_asked=r"\b(?:what|which) (?:\w+ )?resolution\b"),
    _Unit("dollars", "an amount in dollars", r"dollars?|usd|cents?|\$",
          _re(r"\$\s?\d|" + _NUM + r"(?:[kmb]\s*)?(?:dollars|usd|cents|eur)\b")),
)
_UNITS = {u.kind: u for u in UNITS}


def _unit(question: str) -> Detail | None:
    """A measure asked for in a unit: "how many GB", "... in milliseconds", "what resolution",
    or the unit in a terse query ("fuller nuscenes inference fps")."""
    terse = not _QUESTION_FORM.search(question) and len(question.split()) <= 10
    for unit in UNITS:
        words = rf"(?:{unit.asked})"
        # "in UNIT" closing the question or a clause
        asked = [rf"\bin {words}\s*(?:[?.!]\s*$|,|$)"]
        if unit.how_many:
            asked.append(rf"\bhow many {words}(?![\w-])")
        if unit.also_asked:
            asked.append(unit.also_asked)
        # a terse query names the unit anywhere, but not as a rate's denominator ("dollars per
        # million tokens" asks no length in tokens)
        if terse:
            asked.append(rf"(?<!\bper )(?<!\bper million )(?<!\bper thousand )(?<![\w-]){words}"
                         rf"(?![\w-])")
        if re.search("|".join(asked), question, re.IGNORECASE):
            return Detail("unit", unit.words, term=unit.kind)
    return None


@dataclass(frozen=True)
class _Span:
    start: int  # index of the first token
    end: int  # index after the last token
    text: str
    apart: bool = False  # two words that written together are a word of the corpus


class Analyzer:
    """Analyses questions against one revision of the store (rebuilt when it changes)."""

    def __init__(self, lexical: LexicalIndex, names: NameIndex,
                 papers: Mapping[str, StoredPaper],
                 settings: AnalysisSettings | None = None) -> None:
        from paperchat.settings import AnalysisSettings

        self.settings = settings or AnalysisSettings()
        self.lexical = lexical
        self.names = names
        self.papers = papers
        self._vocabulary = lexical.vocabulary()

    # -- the analysis ---------------------------------------------------------------------------

    def analyze(self, question: str) -> QuestionAnalysis:
        tokens = [m for m in _TOKEN.finditer(question)]
        words = [_strip_possessive(m.group(0)) for m in tokens]
        named, used = self._known_names(words)
        # "FlashAttention-style": the name is the part before the suffix.
        stripped = [_strip_compound(w) for w in words]
        if stripped != words:
            words = stripped
            more, also = self._known_names(words, used)
            named, used = sorted(named + more, key=lambda n: question.find(n.text)), used | also
        for span in self._name_candidates(question, tokens, words, used):
            if name_key(span.text) in {name_key(n.text) for n in named}:
                continue
            item = self._resolve(span.text)
            if not item.defined_by and len(item.mentioned_by) >= self.settings.mention_limit:
                continue  # a word this many papers use is vocabulary ("LLM", "GPUs"), no name
            if span.apart and not item.defined_by:
                continue  # "kv cache": words, unless a paper is named so ("paged attention")
            named.append(item)
        named = _without_aliases(question, named)
        salient, unknown = self._salient(words)
        # Every detail the question asks ("which base LLM ..., and how big is it?"): the answer
        # is partial when any one is missing.
        details = [d for d in (*self._details(question), _unit(question)) if d is not None]
        choice = _choice(question, named) if any(n.defined_by for n in named) else None
        if choice is not None:  # "is KIVI written in Python or Java": the options say it all
            details = [choice, *(d for d in details if d.kind != "implementation")]
        if not details:
            asked = self._asked_of_named(question, named)
            details = [asked] if asked is not None else []
        detail = details[0] if details else None
        if detail is not None and detail.options:
            # "is KIVI written in Python or Java": the options are what is asked of KIVI, not
            # items to compare with it (nor names whose absence is the answer's news)
            named = [n for n in named if n.text.casefold() not in detail.options]
            unknown = [t for t in unknown if t.casefold() not in detail.options]
        return QuestionAnalysis(
            question=question,
            names=named,
            salient=salient,
            unknown_terms=unknown,
            detail=detail,
            details=details,
            form=self._form(question, named),
        )

    def _known_names(self, words: list[str], taken: set[int] | None = None
                     ) -> tuple[list[NamedItem], set[int]]:
        """Spans the name index knows, longest first; returns them and the tokens they use."""
        found: list[tuple[int, NamedItem]] = []
        used: set[int] = set(taken or ())
        firsts = self.names.first_words
        keys = [name_key(w) for w in words]
        for n in range(min(self.names.max_words, len(words)), 0, -1):
            for i in range(len(words) - n + 1):
                if n > 1 and keys[i] not in firsts and \
                        "".join(keys[i:i + n]) not in self.names.defined:
                    continue  # no name starts here (unless a coined one typed apart)
                if any(j in used for j in range(i, i + n)):
                    continue
                text = " ".join(words[i:i + n])
                pids = self.names.lookup(text)
                if not pids or not self._written_as_name(
                        words[i:i + n], text, self.names.display[name_key(text)]):
                    continue
                if i + n < len(words) and _VERSION.fullmatch(words[i + n]):
                    continue  # "SAM 2" is another model than SAM: resolved as a whole below
                found.append((i, NamedItem(text, defined_by=list(pids))))
                used |= set(range(i, i + n))
        return [item for _, item in sorted(found, key=lambda f: f[0])], used - set(taken or ())

    def _written_as_name(self, words: list[str], text: str, display: str) -> bool:
        """Whether a span the name index knows is used as that name: written the way the paper
        writes it ("Combiner", "KIVI"), written like a name with other capitals ("Flash
        Attention-2"), a coined name typed as words ("paged attention"), or, in lower case, a
        word rare enough in the corpus that no other reading
        is likely ("scissorhands"; not "distiller", which most distillation papers use)."""
        if text.replace(" ", "") == display.replace(" ", "") and text != text.lower():
            return True
        if len(words) > 1 and any(c.isupper() or c.isdigit() for c in text):
            return True
        if len(words) > 1 and " " not in display and any(c.isupper() for c in display[1:]) \
                and any(c.islower() for c in display) \
                and not any(w.casefold() in _FUNCTION or len(w) < 3 for w in words):
            return True  # a coined name typed apart: "flash attention" for FlashAttention
        return len(words) == 1 and len(name_key(text)) >= 4 and \
            self._word_df(words[0]) <= self.settings.distinctive_df

    def _rarest_df(self, text: str) -> int:
        stems = [s for _, s in self.lexical.terms(text)]
        return min((self.lexical.doc_freq(s) for s in stems), default=0)

    def _word_df(self, word: str) -> int:
        """Papers that hold ``word`` itself (not only its stem), counted up to one past
        ``settings.distinctive_df``."""
        stems = [s for _, s in self.lexical.terms(word)]
        if not stems:
            return 0
        pattern = re.compile(rf"(?<![A-Za-z0-9]){re.escape(word)}(?![A-Za-z0-9])", re.IGNORECASE)
        count = 0
        for pid in self.lexical.papers_with_all(stems):
            paper = self.papers.get(pid)
            if paper is not None and pattern.search(f"{paper.title}\n{paper.abstract}"):
                count += 1
                if count > self.settings.distinctive_df:
                    break
        return count

    def _name_candidates(self, question: str, tokens: list[re.Match[str]], words: list[str],
                         used: set[int]) -> list[_Span]:
        """Runs of name-like words the index does not know: "Mistral 7B", "Mooncake"."""
        spans: list[_Span] = []
        run: list[int] = []

        def close() -> None:
            if run and any(self._is_candidate(question, tokens, words, i) for i in run):
                if len(run) > 1 and run[0] == 0 and \
                        not self._is_candidate(question, tokens, words, 0):
                    run.pop(0)  # the question's first word is capitalised anyway
                spans.append(_Span(run[0], run[-1] + 1, " ".join(words[j] for j in run)))
            run.clear()

        for i, word in enumerate(words):
            gap = i > 0 and question[tokens[i - 1].end():tokens[i].start()].strip(" '’")
            if i in used or word.casefold() in _FUNCTION or gap:
                close()
            if i in used or word.casefold() in _FUNCTION:
                continue
            # "100B-parameter", "8-bit": a quantity, no name (but "Mistral 7B", "Llama 3").
            capital = (word[:1].isupper() or is_name_shaped(word)) and not _QUANTITY.match(word)
            number = any(c.isdigit() for c in word) and bool(run)
            if capital or number:
                run.append(i)
            else:
                close()
        close()
        taken = used | {j for span in spans for j in range(span.start, span.end)}
        for i in range(len(words) - 1):
            # A coined name typed apart ("paged attention" for PagedAttention): the two words
            # written together are a word of the corpus.
            pair = words[i:i + 2]
            if i in taken or i + 1 in taken or any(w.casefold() in _FUNCTION for w in pair) \
                    or not all(w.isalpha() for w in pair):
                continue
            joined = self._stem_of("".join(pair))
            if self.lexical.doc_freq(joined) and joined not in {self._stem_of(w) for w in pair}:
                spans.append(_Span(i, i + 2, " ".join(pair), apart=True))
                taken |= {i, i + 1}
        return spans

    def _is_candidate(self, question: str, tokens: list[re.Match[str]], words: list[str],
                      i: int) -> bool:
        word = words[i]
        if is_name_shaped(word):
            return True
        if not word[:1].isupper() or len(word) < 2:
            return False  # one letter ("F*", "C", "Method X") is too little to be a name
        opening = i == 0 or question[:tokens[i].start()].rstrip()[-1:] in ".?!:;\"'("
        df = self._rarest_df(word)
        rare = df <= max(1, int(self.settings.rare_share * max(self.lexical.n_docs, 1)))
        # A sentence's first word is capitalised anyway: a name only when no paper uses it
        # ("Mooncake vs Splitwise"); elsewhere a capital marks a name when it is rare.
        return df == 0 if opening else rare

    def _resolve(self, name: str) -> NamedItem:
        """Papers that mention ``name`` (the whole phrase, in any case or spacing)."""
        stems = [s for _, s in self.lexical.terms(name)]
        if not stems:
            return NamedItem(name)
        candidates = self.lexical.papers_with_all(stems)
        if len(stems) == 1 and len(candidates) > self.settings.mention_limit:
            # A one-word name held by this many papers is vocabulary ("LLM"): its stem is
            # evidence enough, no need to read the papers.
            return NamedItem(name, mentioned_by=candidates[:self.settings.mention_limit])
        phrase = mention_pattern(name)
        mentioned = []
        for pid in candidates:
            paper = self.papers.get(pid)
            if paper is not None and phrase.search(f"{paper.title}\n{paper.abstract}"):
                mentioned.append(pid)
                if len(mentioned) >= self.settings.mention_limit:
                    break
        # A paper whose title holds the name is about it ("DocOwl2" in "mPLUG-DocOwl2: ...").
        titled = [pid for pid in mentioned if name_key(name) in name_key(self.papers[pid].title)]
        coined = any(name_key(word) == name_key(name) and is_name_shaped(word)
                     for pid in titled for word in TOKEN.findall(self.papers[pid].title))
        if 0 < len(titled) <= 2 and (is_name_shaped(name.replace(" ", "")) or coined):
            return NamedItem(name, defined_by=titled, mentioned_by=mentioned)
        return NamedItem(name, mentioned_by=mentioned)

    def _salient(self, words: list[str]) -> tuple[list[tuple[str, float]], list[str]]:
        """Content words with their idf, rarest first, and those no paper holds."""
        seen: dict[str, tuple[str, float]] = {}
        unknown: list[str] = []
        for word in words:
            if word.casefold() in _QUESTION_WORDS or len(word) < 2:
                continue
            for plain, stem in self.lexical.terms(word):
                if stem in seen or plain in _QUESTION_WORDS or plain.isdigit():
                    continue
                known = self._known_stem(plain, stem)
                seen[stem] = (plain, self.lexical.idf(known or stem))
                if known is None:
                    unknown.append(plain)
        salient = sorted(seen.values(), key=lambda t: -t[1])
        return salient, unknown

    def _known_stem(self, word: str, stem: str) -> str | None:
        """The corpus's stem for ``word``, allowing British spelling and small typos; None when
        no paper holds anything like it."""
        if self.lexical.doc_freq(stem) > 0:
            return stem
        american = _american(word)
        if american != word:
            alt = self.lexical.terms(american)
            if alt and self.lexical.doc_freq(alt[0][1]) > 0:
                return alt[0][1]
        # A misspelt or differently derived word keeps its beginning: "quantizaton" and
        # "speculatve" share all but their last letters with a stem the corpus holds.
        if len(stem) >= 6:
            i = bisect.bisect_left(self._vocabulary, stem)
            for known in self._vocabulary[max(0, i - 1): i + 1]:
                shorter = min(len(stem), len(known))
                common = next((j for j in range(shorter) if stem[j] != known[j]), shorter)
                if common >= max(6, shorter - 2):
                    return known
        return None

    @staticmethod
    def _details(question: str) -> list[Detail]:
        """The details the question asks for: detail terms the question asks about ("what
        learning rate", "how many GPUs", a terse "KOALA training cost in GPU hours"), not ones it
        merely uses ("models fine-tuned with different hyperparameters")."""
        out = []
        for kind in DETAILS:
            found = kind.asked.search(question)
            if found and (kind.yes_no or _asks(question, found)):
                out.append(Detail(kind.kind, kind.words,
                                  relative=bool(_SAVES.search(question))))
        return out

    def _asked_of_named(self, question: str, named: list[NamedItem]) -> Detail | None:
        """A measure or property asked of a named paper, beyond the kinds in ``DETAILS``:
        "What is vTrain's prediction error?" asks for an error, which vTrain's abstract may not
        give. Only for a question that names a paper the corpus holds, and only a thing, not a
        what-it-does ("What approach does X take" asks for what every abstract says)."""
        if not any(n.defined_by for n in named):
            return None
        name_words = {w.casefold() for n in named for w in _TOKEN.findall(n.text)}
        counted = _COUNTED.search(question)
        if counted and not {w.casefold() for w in counted.group(1).split()} & \
                (name_words | _NOT_COUNTED):
            words = counted.group(1).split()
            stem = self._stem_of(words[-1])
            return Detail("asked", f"how many {' '.join(words).casefold()}",
                          term=stem[:max(4, len(stem) - 2)], counted=True)
        for found in _ASKED_THING.finditer(question):
            words = found.group(1).split()
            if any(w.casefold() in name_words for w in words):
                continue  # "what hypothesis underlies Scissorhands": a clause, not a thing
            if words[0].casefold() in _NOT_A_THING or \
                    words[-1].casefold() in _NOT_A_THING:
                continue
            # The stem, less its last letters: "accuraci" finds "accuracy", "hypothesi" finds
            # "hypothesize".
            stem = self._stem_of(words[-1])
            return Detail("asked", f"its {' '.join(words).casefold()}",
                          term=stem[:max(4, len(stem) - 2)])
        return _choice(question, named) or self._terse_terms(question, named)

    def _terse_terms(self, question: str, named: list[NamedItem]) -> Detail | None:
        """A terse query of one named paper and key words ("lora-sp glue score"): a key word
        the paper's title and abstract never use is a thing the corpus does not say of it."""
        if _QUESTION_FORM.search(question) or len(question.split()) > 8:
            return None
        defined = [n for n in named if n.defined_by]
        if len(defined) != 1:
            return None
        name_words = {w.casefold() for n in named for w in _TOKEN.findall(n.text)}
        words = [w for w in (_strip_possessive(m) for m in _TOKEN.findall(question))
                 if w.casefold() not in name_words | _QUESTION_WORDS | _NOT_A_THING | _NOT_ASKED
                 and len(w) >= 3 and not w.isdigit()]
        texts = [f"{p.title} {p.abstract}".replace("-", "") for pid in defined[0].defined_by
                 if (p := self.papers.get(pid)) is not None]
        common = self.settings.terse_common_share * self.lexical.n_docs
        for word in words:
            stem = self._stem_of(word.replace("-", ""))
            if self.lexical.doc_freq(stem) > common:
                continue  # "llm", "dataset": vocabulary an abstract may put in other words
            term = stem[:max(4, len(stem) - 2)]
            if texts and not any(re.search(rf"(?<![A-Za-z]){re.escape(term)}", t, re.IGNORECASE)
                                 for t in texts):
                return Detail("asked", f"its {' '.join(words).casefold()}", term=term)
        return None

    def _stem_of(self, word: str) -> str:
        return next((stem for _, stem in self.lexical.terms(word)), word.casefold())

    @staticmethod
    def _form(question: str, names: list[NamedItem]) -> Form:
        if _COMPARISON.search(question):
            return "comparison"
        if _SURVEY.search(question):
            return "survey"
        # "KIVI and Scissorhands", "Splitwise / Mooncake": two items side by side.
        items = [n for n in names if n.defined_by or not n.known]
        if len(items) >= 2 and re.search(r"\b(?:and|or|&)\b|/|,", question):
            return "comparison"
        if _SINGLE.search(question):
            return "single"
        if not names and terse_topic(question):
            return "survey"  # "speculative decoding": what the corpus has on it
        if _ABOUT.search(question) or names:
            return "about"
        return "open"


def mention_pattern(name: str) -> re.Pattern[str]:
    """Where a text writes ``name``: the whole phrase, in any case or spacing, each word in the
    singular or plural ("Long Range Arena" in "Long-Range Arena", "VILA^2" in "VILA 2", "Tensor
    Cores" in "Tensor Core")."""
    def word(part: str) -> str:
        if part.isalpha() and len(part) > 3 and part[-1] in "sS" and part[-2] not in "sS":
            return re.escape(part[:-1]) + "s?"
        return re.escape(part) + ("s?" if part.isalpha() and len(part) > 2 else "")

    return re.compile(r"(?<![A-Za-z0-9])" + r"[\s\-_.^]*".join(
        word(p) for p in re.findall(r"[A-Za-z0-9]+", name)) + r"(?![A-Za-z0-9])",
        re.IGNORECASE)


# Units and hardware written in capitals ("20 GB", "on a GPU"): measures and machines, no
# named thing a paper would have to mention.
MEASURE_WORDS = frozenset("""gb mb tb kb pb gib mib tib ghz mhz ms fps flops gflops tflops
    pflops gpu gpus cpu cpus tpu tpus npu npus hbm dram ram sram ssd ssds nvme usd""".split())
# A quantity written as one word: "100B-parameter", "8-bit", "70B", "4K".
_QUANTITY = re.compile(r"^\d[\d.,]*(?:[kmbt]|gb|mb|tb|x|%)?(?:-|$)", re.IGNORECASE)


def terse_topic(question: str) -> bool:
    """A topic typed as a few words, no question ("speculative decoding")."""
    return len(question.split()) <= 4 and not _QUESTION_FORM.search(question) \
        and "?" not in question


_WH = re.compile(r"\b(?:what|which|how|when|who|whose|where|list|give|tell)\b", re.IGNORECASE)
_PREDICATE = re.compile(r"(?:implemented|written|coded|programmed) in\b", re.IGNORECASE)
_QUESTION_FORM = re.compile(r"\b(?:what|which|how|when|who|whose|where|why|does|do|did|is|are|"
                            r"was|were|can|could|should)\b", re.IGNORECASE)


# "how many X", "what is NAME's X", "which X": the thing asked for, ending where a preposition,
# an auxiliary or the sentence's end follows (so "what hypothesis underlies X" asks nothing here:
# no word list tells its noun from its verb).
_ENDS_THING = (r"(?:of|for|in|on|at|against|to|by|with|and|or|than|from|does|do|did|is|are|was|"
               r"were|has|have|had|can|could|should|would|will|when|that)\b")
_ASKED_THING = re.compile(
    r"\b(?:how many|how much|what(?:'s| is| are| was| were)?|which)\s+(?:the\s+|its\s+)?"
    r"(?:\S+'s\s+)?((?:(?!" + _ENDS_THING + r")[A-Za-z][\w-]*\s*){1,3}?)"
    r"(?=[?,.;:]|$|" + _ENDS_THING + ")", re.IGNORECASE)
# "how many human annotators labelled ...": the counted thing is the first plural noun, with up
# to two words before it (no word list tells a noun from the verb after it; plurals end in s).
_COUNTED = re.compile(r"\bhow many\s+((?:[A-Za-z][\w-]*\s+){0,2}?(?:[A-Za-z][\w-]*s|people|"
                      r"persons|men|women|children|data|criteria|phenomena))\b", re.IGNORECASE)
# A question about what a method saves or cuts asks a relative result, which an abstract gives as
# a percentage or a factor ("reduces training time by 22%"), not in hours or GPU-days.
_SAVES = re.compile(r"\b(?:sav(?:e|es|ed|ing|ings)|reduc\w*|cut(?:s|ting)?|lower\w*|less|fewer|"
                    r"faster|speed-?ups?|shorten\w*)\b", re.IGNORECASE)
_RELATIVE = re.compile(r"\d[\d.,]*\s*(?:\\?%|x\b|×|times\b|-fold\b)|\bpercent", re.IGNORECASE)
_RELATIVE_KINDS = frozenset({"compute", "duration", "parameters", "dataset"})
# Words of a terse query that ask for the paper itself, not a thing in it ("kivi code").
_NOT_ASKED = frozenset("""code github repo repository link pdf summary summarize summarise
    explained explain explanation overview tldr eli5 pros cons review intro introduction
    abstract details detail info information number numbers count amount total savings saving
    reduction reductions""".split())
# "how many times faster", "how many papers": not a count one abstract gives. ("How many people
# took part in X's study" is one: a question counted here names a paper.)
_NOT_COUNTED = frozenset("times papers works studies articles".split())
# Words that ask what a paper does or claims, which every abstract says in its own words; and
# words that cannot head a thing asked for.
_NOT_A_THING = frozenset("""
    a an the this that these those it its they their paper papers work method methods approach
    approaches technique techniques idea ideas problem problems challenge challenges issue issues
    result results finding findings contribution contributions advantage advantages benefit
    benefits gain gains improvement improvements speedup speed-up speedups speed-ups difference
    differences limitation limitations goal goals purpose role roles way ways mechanism
    mechanisms insight insights trick tricks component components key main core new novel kind
    kinds type types part parts aspect aspects change changes step steps strategy strategies
    design designs framework system systems model models task tasks trade-off tradeoff
    trade-offs tradeoffs effect effects impact claim claims conclusion conclusions lesson lessons
    makes make happens happen about other others different same exactly
    specifically one two three evidence reason reasons motivation
""".split()) | frozenset("""
    more less fewer better worse faster slower quicker cheaper costlier bigger smaller larger
    greater higher lower longer shorter wider narrower deeper shallower stronger weaker easier
    harder simpler denser sparser leaner lighter heavier earlier later
""".split())  # "how much faster is X": a comparison asked, answered by the result sentence


def _without_aliases(question: str, named: list[NamedItem]) -> list[NamedItem]:
    """Names without the aliases given in brackets after another name: "PagedAttention (vLLM)"
    is one item, not two."""
    aliases = {
        b.text for a in named for b in named if a is not b and re.search(
            rf"{re.escape(a.text)}\s*\(\s*{re.escape(b.text)}\s*\)", question, re.IGNORECASE)
    }
    return [n for n in named if n.text not in aliases]


def _asks(question: str, found: re.Match[str]) -> bool:
    if _WH.match(found.group(0)):
        return True
    if _PREDICATE.match(found.group(0)):
        return True  # "Is X implemented in Python": the detail is what the question asks
    before = question[: found.start()].split()[-5:]
    if _WH.search(" ".join(before)):
        return True
    return not _QUESTION_FORM.search(question) and len(question.split()) <= 10  # terse


# "is X written in Python or Java", "does X run on GPUs or CPUs?": a yes/no question that
# ends offering two options.
_CHOICE = re.compile(r"^(?:is|are|was|were|does|do|did|can|could|will|would|has|have)\b.*?"
                     r"\b([\w+#.-]+),? or (?:only |just |also |rather |instead )?([\w+#.-]+)"
                     r"\s*\??\s*$", re.IGNORECASE)
# The same offered in a terse query: "smartrag rl algorithm ppo or dpo".
_TERSE_CHOICE = re.compile(r"^.*?\b([\w+#.-]+) or ([\w+#.-]+)\s*\??\s*$", re.IGNORECASE)
# A count as an abstract writes it: digits, or a number word.
_COUNT = (r"(?:\d[\d,.]*\s*(?:[kmb]\b|thousand|million|billion)?|two|three|four|five|six|"
          r"seven|eight|nine|ten|eleven|twelve|dozens?|hundreds?|thousands?)")


def _choice(question: str, named: list[NamedItem]) -> Detail | None:
    found = _CHOICE.match(question.strip())
    if found is None and not _QUESTION_FORM.search(question) and len(question.split()) <= 10:
        found = _TERSE_CHOICE.match(question.strip())
    if found is None:
        return None
    options = tuple(o.strip(".").casefold() for o in found.groups())
    if any(o in _NOT_A_THING or len(o) < 2 for o in options):
        return None
    defined = {n.text.casefold() for n in named if n.defined_by}
    if all(o in defined for o in options):
        return None  # "kivi or scissorhands": two papers side by side, not a choice
    said = [o.strip(".") for o in found.groups()]
    return Detail("choice", f"whether it is {said[0]} or {said[1]}", options=options)


def detail_given(detail: Detail, paper: StoredPaper) -> bool:
    """Whether the paper's abstract (or metadata) reports the detail asked for."""
    text = f"{paper.title}\n{paper.abstract}"
    if detail.kind == "choice":
        return any(re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", text, re.IGNORECASE)
                   for o in detail.options)
    if detail.kind == "unit":
        return bool(_UNITS[detail.term].given.search(text))
    if detail.kind == "asked" and detail.counted:
        # "12 human annotators", "annotated by three experts", "number of annotators is 5"
        term = re.escape(detail.term)
        return bool(re.search(rf"\b{_COUNT}[\s-]*(?:[\w()-]+\s+){{0,8}}?{term}|"
                              rf"(?<![A-Za-z]){term}\w*\s+(?:of|=|:|is|was|were|are)\s+"
                              rf"(?:about |around |over |up to |nearly )?{_COUNT}\b",
                              text, re.IGNORECASE))
    if detail.kind == "asked":
        return bool(re.search(rf"(?<![A-Za-z]){re.escape(detail.term)}", text, re.IGNORECASE))
    kind = next(k for k in DETAILS if k.kind == detail.kind)
    if detail.relative and detail.kind in _RELATIVE_KINDS and _RELATIVE.search(paper.abstract):
        return True  # "how much training time does X save": "by 22%", "3x faster"
    if detail.kind == "authors":
        return bool(paper.authors)
    if detail.kind == "date":
        return bool(paper.date)
    if detail.kind == "code" and any(re.search(r"github|gitlab|huggingface\.co", u, re.I)
                                     for u in paper.urls):
        return True
    return bool(kind.given.search(paper.abstract))


def _strip_possessive(word: str) -> str:
    return re.sub(r"(?i)(?<=[a-z0-9])'s$", "", word)


# "FlashAttention-style", "LLM-based", "IO-aware": the name is the part before the suffix.
_COMPOUND = re.compile(
    r"(?i)(?<=[A-Za-z0-9])-(?:style|like|based|aware|free|efficient|friendly|specific|guided|"
    r"driven|level|scale|sized|size|enabled|powered|inspired|type|only|centric|oriented|"
    r"generated|related|class|grade)$")


def _strip_compound(word: str) -> str:
    return _COMPOUND.sub("", word) if any(c.isupper() for c in word) else word


def english_zipf(word: str) -> float:
    """How common ``word`` is in English at large (Zipf scale: 7 for "the", 3 for "telescope",
    under 2 for "vocoder"); a question's word that no paper holds and that is rare in English
    too names a topic the corpus lacks, not a paraphrase."""
    from wordfreq import zipf_frequency  # loads its English list once, on first use

    return float(zipf_frequency(word, "en"))


_BRITISH = ((re.compile(r"is(ation|ations|e|es|ed|ing|er|ers)$"), r"iz\1"),
            (re.compile(r"ys(e|es|ed|ing)$"), r"yz\1"),
            (re.compile(r"our(s?)$"), r"or\1"),
            (re.compile(r"tre(s?)$"), r"ter\1"))


def _american(word: str) -> str:
    for pattern, repl in _BRITISH:
        new = pattern.sub(repl, word)
        if new != word:
            return new
    return word
