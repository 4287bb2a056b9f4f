"""What each phrase of a prompt is for: subject, style, lighting, camera, quality, LoRA/embedding.

The roles follow how people write Stable Diffusion prompts (and how bench/roles/README.md
labels them):

- **subject**: what is depicted: content, setting, attributes, actions. The default.
- **style**: how it looks: an artist ("by X", "in the style of X", a bare artist name), a
  medium ("oil painting", "octane render"), a movement, a genre look, a palette or mood.
- **lighting**: anything about light ("volumetric lighting", "golden hour", "backlit").
- **camera**: shot, framing, lens, angle, depth of field, focus, camera make.
- **quality**: fidelity, praise and platform tags ("8k", "highly detailed", "masterpiece",
  "trending on artstation").
- **lora** / **embedding**: ``<lora:name:w>`` tags and textual-inversion embeddings.

Signals, strongest first: the phrase's kind (a LoRA tag), patterns ("by X", "in the style of
X"), an exact match in the shipped vocabulary (`prompts/data/modifiers.json`, derived from
open-prompts' modifier lists, plus the curated lists below), then keywords, where the last
keyword in the phrase wins: in English the head noun comes last, so "cinematic lighting" is
lighting and "highly detailed digital painting" is style. A phrase that names content ("a
painting of a cat") is subject, and a short name-like phrase next to an artist is an artist.
"""

from __future__ import annotations

import json
import re
from functools import cache, lru_cache
from pathlib import Path

SUBJECT = "subject"
STYLE = "style"
LIGHTING = "lighting"
CAMERA = "camera"
QUALITY = "quality"
LORA = "lora"
EMBEDDING = "embedding"

#: Roles the text tagger chooses between (LoRA and embedding come from syntax).
ROLES_TAGGED = (SUBJECT, STYLE, LIGHTING, CAMERA, QUALITY)
ROLES = (*ROLES_TAGGED, LORA, EMBEDDING)
#: The order a merged prompt lists its phrases in: what, then how, then polish.
ROLE_ORDER = {SUBJECT: 0, STYLE: 1, LIGHTING: 2, CAMERA: 3, QUALITY: 4, LORA: 5, EMBEDDING: 6}

_VOCABULARY_FILE = Path(__file__).parent / "data" / "modifiers.json"

# Artists, studios and photographers that Stable Diffusion prompts name most, beyond the
# open-prompts list ("art styles"): a bare name in a prompt is one of these far more often
# than content.
_ARTISTS = frozenset(
    """
    adam hughes, agnes cecile, akira toriyama, alan lee, albert bierstadt, albrecht durer,
    albrecht dürer, aleksi briclot, alena aenami, alex grey, alex ross, alexander jansson,
    alfred kelsner, alphonse mucha, amy sol, anato finnstark, anders zorn, andreas rocha, andrew
    wyeth, android jones, andy warhol, anne stokes, annie leibovitz, ansel adams, artem demura,
    artgerm, arthur rackham, ash thorp, atey ghailan, audrey kawasaki, banksy, basquiat, bastien
    lecouffe-deharme, beeple, beksinski, benjamin lacombe, bill sienkiewicz, bill stoneham, bob
    eggleton, boris vallejo, bosch, botticelli, bouguereau, brian despain, brian froud, brom,
    bruce pennington, bruce timm, butcher billy, camille rose garcia, caravaggio, carne
    griffiths, caspar david friedrich, caza, charlie bowater, chesley bonestell, chris foss,
    christophe vacher, christopher nolan, cindy sherman, claude monet, conrad roset, craig
    mullins, da vinci, dali, dan luvisi, dan mumford, dan seagrave, daniel merriam, dante
    gabriel rossetti, david lachapelle, denis villeneuve, diego rivera, diego velazquez, disney,
    dreamworks, drew struzan, eddie mendoza, edmund dulac, edvard munch, edward burne-jones,
    edward hopper, egon schiele, eiichiro oda, el greco, ernst haeckel, esao andrews, eyvind
    earle, feng zhu, ferdinand knab, filip hodas, francisco goya, frank cho, frank frazetta,
    frank miller, frank stella, frazetta, frida kahlo, gediminas pranckevicius, gediminas
    pranckevičius, genndy tartakovsky, george bellows, georges seurat, gerald brom, giger, gil
    elvgren, glen keane, goya, grant wood, greg hildebrandt, greg rutkowski, greg staples,
    gregory crewdson, guillermo del toro, gustav klimt, gustave dore, gustave doré, guweiz, h.r.
    giger, hajime sorayama, hayao miyazaki, helmut newton, henri matisse, hieronymus bosch,
    hirohiko araki, hiroshi sugimoto, hiroshi yoshida, hokusai, hr giger, hsiao-ron cheng, ian
    mcque, ilya kuvshinov, ilya repin, irving penn, ismail inceoglu, ivan aivazovsky, ivan
    bilibin, ivan shishkin, j. m. w. turner, j. scott campbell, j.c. leyendecker, j.m.w. turner,
    jacek yerka, jack kirby, jackson pollock, jakub rozalski, james c christensen, james gurney,
    james jean, jamie hewlett, jane graverol, jasmine becket-griffith, jean baptiste monge, jean
    giraud, jean-michel basquiat, jeremy lipking, jesper ejsing, jim burns, jim lee, joaquin
    sorolla, johan grenier, johannes vermeer, john berkey, john constable, john harris, john
    howe, john park, john singer sargent, john william waterhouse, jon klassen, jordan grimmer,
    josan gonzalez, joshua middleton, junji ito, kandinsky, karol bak, katsushika hokusai,
    kawase hasui, kay sage, keith haring, kentaro miura, kilian eng, kim jung gi, kinkade,
    klimt, krenz cushart, kyoto animation, laurie greasley, lawrence alma-tadema, leonardo da
    vinci, leyendecker, lisa frank, loish, luis royo, maciej kuciara, magali villeneuve,
    magritte, makoto shinkai, mandy jurgens, marc simonetti, mario testino, mark brooks, mark
    rothko, mark ryden, mary blair, matisse, maurice noble, michael parkes, michael whelan,
    michelangelo, mike mignola, mike winkelmann, moebius, monet, mucha, nicola samori, noah
    bradley, norman rockwel, norman rockwell, ohara koson, pablo picasso, patrick nagel, paul
    cezanne, paul chadeisson, paul lehr, peter lindbergh, peter mohrbacher, philippe druillet,
    picasso, piet mondrian, pieter bruegel, pixar, pj crook, quentin blake, ralph mcquarrie,
    range murata, raphael, raphael lacoste, ray caesar, rebecca guay, rembrandt, rene magritte,
    rhads, richard avedon, richard schmid, ridley scott, rob gonsalves, rockwell, roger deakins,
    roger dean, ross tran, rossdraws, roy lichtenstein, ruan jia, russ mills, rutkowski, sachin
    teng, sakimichan, salvador dali, sam spratt, sandro botticelli, sargent, shaun tan, shepard
    fairey, simon stalenhag, sparth, stanley artgerm lau, stanley kubrick, stanley lau, stephan
    martiniere, steve mccurry, studio ghibli, studio trigger, sung choi, syd mead, takashi
    murakami, tara mcpherson, ted nasmith, terese nielsen, thomas cole, thomas kindkade, thomas
    kinkade, tim burton, tim hildebrandt, tim walker, tim white, titian, todd mcfarlane, tom
    bagshaw, tom whalen, tomasz alen kopera, tomer hanuka, tooth wu, tsutomu nihei, tyler edlin,
    ufotable, vallejo, van gogh, velazquez, vermeer, victo ngai, viktor vasnetsov, vincent van
    gogh, vladimir kush, wadim kashin, wassily kandinsky, wayne barlowe, wes anderson, william
    morris, william turner, william-adolphe bouguereau, winslow homer, wlop, yoh yoshinari, yoji
    shinkawa, yoshitaka amano, yuumei, zaha hadid, zdzislaw beksinski, zdzisław beksiński
    """.replace("\n", " ").split(",")
) - {""}

_STYLE_PREFIX = re.compile(
    r"^(?:(?:an?|the)\s+)?(?:art(?:work)?\s+by|(?:(?:painted|drawn|illustrated|rendered|"
    r"photographed|sculpted|designed|directed|produced|shot|made|created|inspired)\s+by)|by|"
    r"(?:in\s+)?(?:the\s+)?(?:art\s+)?style\s+of|in\s+the\s+manner\s+of|"
    r"(?:in\s+the\s+)?(?:aesthetic|aesthetics)\s+of|after)\s+\S"
)
_STYLE_SUFFIX = re.compile(r"\b(?:style|aesthetic|aesthetics|art style|artstyle|inspired)$")
# "by X" late in a phrase: "portrait of a knight by greg rutkowski" is still a subject phrase.
_CONTENT_OF = re.compile(
    r"^(?:(?:an?|the|one)\s+)?(?:[\w-]+\s+){0,3}?"
    r"(?:photo|photograph|picture|image|painting|portrait|drawing|illustration|render|"
    r"rendering|sketch|shot|close[\s-]?up|closeup|still|screenshot|poster|statue|sculpture|"
    r"view|scene|study|concept art|artwork|art|film still|selfie|print|photography)\s+of\s+\S"
)
# A medium credited to someone: "oil painting by claude monet", "sketch by liz y ahmet".
_MEDIUM_BY = re.compile(
    r"^(?:(?:an?|the)\s+)?(?:[\w-]+\s+){0,5}?(?:painting|sketch|drawing|illustration|photo|"
    r"photograph|photography|art|artwork|render|print|etching|engraving|sculpture|poster|"
    r"screenshot|design|comic|cover)s?\s+by\s+\S"
)
_STYLE_OF_ANYWHERE = re.compile(r"\b(?:in\s+(?:the\s+)?)?style\s+of\s+\S")
_PLATFORM = re.compile(r"^(?:trending|viral|featured|popular|top)\s+(?:on|in)\b")
_DECADE = re.compile(r"^(?:\d{2}|\d{4})s$|^\d{4}s?\s+\w+$|^(?:1[5-9]|20)\d{2}$")
_VIEWPOINT = re.compile(r"^(?:view|viewed|seen|shot|photographed)\s+from\b")
_AWARD = re.compile(r"^award[\s-]?winning\b")
_YEAR = re.compile(r"^(?:1[5-9]|20)\d{2}s?$")
_F_NUMBER = re.compile(r"\bf\s?/?\s?\d+(?:\.\d+)?\b")
_NOT_CONTENT_OF = re.compile(
    r"\b(?:depth of field|field of view|point of view|style of|manner of|aesthetic of)\b"
)


def _words(blob: str) -> frozenset[str]:
    return frozenset(blob.split())


# Keyword lists: a phrase containing one of these words (as whole words) leans to that role.
_KEYWORDS: dict[str, str] = {
    LIGHTING: """
        light lights lighting lit backlit backlight backlighting rimlight rim-light lamplight
        sunlight moonlight starlight candlelight firelight torchlight daylight twilight
        illumination illuminated illuminating glow glowing glows luminous luminescence
        bioluminescent bioluminescence shadows shadow chiaroscuro rays god-rays sunrays
        sunbeams sunbeam lightrays volumetric spotlight spotlit floodlight
        golden-hour blue-hour sunset-lighting neon-lights flare lens-flare flares
        radiance radiant ambient-occlusion raytracing ray-tracing ray-traced reflection
        reflections ambient lit-by ray-of-light silhouette silhouettes silhouetted
        """,
    CAMERA: """
        shot shots close-up closeup close-ups headshot portrait-shot wide-angle wide-shot
        lens lenses telephoto macro fisheye fish-eye bokeh dof depth-of-field aperture
        focal mm f/1.4 f/1.8 f/2.8 f/8 f/16 iso shutter exposure long-exposure
        dslr slr camera cameras canon nikon sony leica hasselblad fujifilm kodak polaroid
        angle angles low-angle high-angle dutch-angle birds-eye bird's-eye aerial drone
        top-down overhead view perspective framing framed composition composed centered
        centred symmetrical symmetry symmetric rule-of-thirds full-body full-length
        half-body medium-shot establishing-shot panorama panoramic anamorphic
        focus sharp-focus soft-focus tilt-shift cinematography 35mm 50mm 85mm 24mm 70mm 200mm
        zoom zoomed film-grain grain grainy film-stock kodachrome ektachrome portra cinestill
        golden-ratio field-of-depth orientation front-profile side-profile profile-view
        """,
    QUALITY: """
        4k 8k 16k 32k 64k hd uhd fhd 1080p high-resolution hi-res highres resolution
        detailed detail details highly-detailed hyperdetailed hyper-detailed ultradetailed
        ultra-detailed intricate intricately masterpiece masterwork best-quality
        high-quality quality trending artstation cgsociety deviantart pixiv behance
        featured award-winning award winning awardwinning professional sharp crisp
        stunning gorgeous beautiful breathtaking amazing incredible epic elegant smooth
        perfect flawless polished fine finely exquisite insanely extremely hdr iconic elite
        visuals creative coherent complexity post-processing postprocessing post-processed
        """,
    STYLE: """
        painting paintings painted painterly oil oils acrylic watercolor watercolour gouache
        pastel charcoal pencil ink inked sketch sketched drawing drawn illustration
        illustrated lineart line-art linework comic comics manga anime cartoon cartoonish
        cel-shaded cel-shading pixel pixel-art 8-bit 16-bit voxel low-poly lowpoly vector
        render rendered rendering octane octane-render unreal unreal-engine redshift vray
        v-ray blender cinema4d c4d 3d 2d cgi cg digital digital-art concept concept-art
        matte matte-painting photo photograph photography photographic photorealistic
        photorealism realistic realism hyperrealistic hyperrealism hyper-realistic
        surreal surrealism surrealist impressionism impressionist impressionistic
        expressionism expressionist cubism cubist baroque rococo renaissance gothic
        art-nouveau art-deco nouveau deco bauhaus minimalism minimalist minimal
        maximalism maximalist abstract pop-art pop ukiyo-e ukiyoe woodblock lithograph
        etching engraving mosaic stained-glass fresco tapestry collage papercut origami
        claymation stop-motion cinematic film filmic movie-still film-still noir
        vaporwave synthwave cyberpunk steampunk dieselpunk solarpunk retrowave retro
        vintage fantasy sci-fi scifi dystopian utopian psychedelic trippy dreamlike
        dreamy ethereal moody dark gloomy eerie creepy atmospheric whimsical cute kawaii
        colorful colourful vibrant muted monochrome monochromatic black-and-white b&w
        sepia palette colors colours color colour tones toned hues saturated desaturated
        pastel-colors stylized stylised aesthetic studio disney pixar dreamworks ghibli
        graffiti mural poster key-art keyart airbrush airbrushed sculpture statue
        marble-sculpture bronze chalk crayon storybook childrens-book impasto brushstrokes
        brush-strokes tarot art contrast high-contrast saturation low-saturation gradients
        graphic-design disturbing darkness luxury unity magazine lines doodles atmosphere
        """,
}


def _keyword_pattern() -> tuple[re.Pattern[str], dict[str, str]]:
    words: dict[str, str] = {}
    for role, blob in _KEYWORDS.items():
        for word in blob.split():
            words[word.replace("-", " ")] = role
    # Longest first, so "sharp focus" wins over "sharp" and "lens flare" over "lens".
    alternatives = sorted(words, key=len, reverse=True)
    pattern = re.compile(
        r"(?<![\w'])(?:" + "|".join(re.escape(word) for word in alternatives) + r")(?![\w'])"
    )
    return pattern, words


_KEYWORD_RE, _KEYWORD_ROLE = _keyword_pattern()
_SPACES = re.compile(r"\s+")
_SPACED_DIGITS = re.compile(r"(\d) (?=\d|k\b|s\b)")
_SPACED_HYPHEN = re.compile(r"(?<=\w) - (?=\w)")
_EDGE_PUNCTUATION = re.compile(r"^[\W_]+|[\W_]+$")
_NAME_WORD = re.compile(r"^[a-zà-ÿ.'-]+$")
_COMMON_NOUN_HINT = _words(
    """
    a an the of in on at with and or for from to is are as into over under girl boy man
    woman city cat dog house tree forest sky sea ocean space castle robot dragon
    """
)


def normalize_phrase(text: str) -> str:
    """Lower case, single spaces, no leading/trailing punctuation: the form roles are read in.

    Also what near-duplicate checks compare: "Greg Rutkowski!!" and "greg rutkowski" are one.
    Scraped prompts spell "8k" as "8 k", "1960s" as "1 9 6 0 s" and "close-up" as
    "close - up" (a tokenizer artefact of the sites they were copied from): those are undone.
    """
    text = _SPACES.sub(" ", text.lower().replace("_", " ")).strip()
    text = _SPACED_DIGITS.sub(r"\1", text)
    text = _SPACED_HYPHEN.sub("-", text)
    return _EDGE_PUNCTUATION.sub("", text)


@cache
def vocabulary() -> dict[str, str]:
    """Every known modifier (lower case) and its role: the shipped file plus curated artists."""
    data = json.loads(_VOCABULARY_FILE.read_text())
    known: dict[str, str] = {}
    for role in ROLES_TAGGED:
        for name in data.get(role, []):
            known[normalize_phrase(name)] = role
    for name in artists():
        known[name] = STYLE
    return known


@cache
def artists() -> frozenset[str]:
    """Known artist and studio names, lower case (for "a bare name is an artist")."""
    data = json.loads(_VOCABULARY_FILE.read_text())
    names = {normalize_phrase(name) for name in data.get("artists", [])}
    names.update(normalize_phrase(name) for name in _ARTISTS)
    names.discard("")
    return frozenset(names)


def phrase_role_by_rules(text: str) -> str:
    """The role of one phrase from patterns and keywords alone (no vocabulary, no context).

    Used to derive the vocabulary, and as the fallback of `phrase_role`.
    """
    norm = normalize_phrase(text)
    if not norm:
        return SUBJECT
    if _STYLE_PREFIX.match(norm):
        return STYLE
    if _STYLE_SUFFIX.search(norm) and len(norm.split()) <= 6:
        return STYLE  # "anime style"; a sentence that ends "... horror style" is content
    if _MEDIUM_BY.match(norm) or _DECADE.match(norm):
        return STYLE
    if _PLATFORM.match(norm) or _AWARD.match(norm):
        return QUALITY  # "award winning architecture photography" is praise, not a medium
    if _VIEWPOINT.match(norm):
        return CAMERA  # "view from the river", "seen from below"
    if _F_NUMBER.fullmatch(norm):
        return CAMERA
    if _CONTENT_OF.match(norm) and not _NOT_CONTENT_OF.search(norm):
        return SUBJECT
    if _STYLE_OF_ANYWHERE.search(norm) and len(norm.split()) <= 8:
        return STYLE  # "drawn in the style of x"; a long sentence mentioning a style is content
    words = norm.split()
    if len(words) > 6:
        return SUBJECT  # a sentence describes content, whatever adjectives it carries
    # Keywords are stored with spaces for hyphens: "close-up" and "close up" are one.
    norm = norm.replace("-", " ")
    last_role = None
    for match in _KEYWORD_RE.finditer(norm):
        last_role = _KEYWORD_ROLE[match.group()]
    if last_role is None:
        return SUBJECT
    if not _ends_with_modifier(norm):
        return SUBJECT  # "a glowing sword": a lighting adjective on a noun that is content
    return last_role


def _ends_with_modifier(norm: str) -> bool:
    """Whether the phrase's head (its last word or two) is a modifier and not content.

    "volumetric lighting" ends in a keyword; "a glowing sword" ends in a noun the keywords do
    not know, so it is a subject with a lighting adjective, not lighting.
    """
    last = None
    for match in _KEYWORD_RE.finditer(norm):
        last = match
    if last is None:
        return False
    # "highly detailed face" names content; only filler words (or a year: "anime 1999") may
    # follow the keyword.
    tail = norm[last.end() :].split()
    return all(word in _TAIL_FILLER or _YEAR.match(word) for word in tail)


_TAIL_FILLER = _words(
    """
    style styles quality effect effects shot render rendering art artwork lighting light
    lights details detail resolution photo photography picture image illustration painting
    wallpaper background design engine 5 4 3 2 1 v5 hd k face body portrait scene frame
    still
    """
)


@lru_cache(maxsize=65536)
def phrase_role(text: str) -> str:
    """The role of one phrase: vocabulary first, then `phrase_role_by_rules`.

    Cached: modifiers repeat across prompts ("highly detailed" is in a third of them), and a
    phrase's role depends on its text alone (the context pass is `roles_in_context`).
    """
    norm = normalize_phrase(text)
    if not norm:
        return SUBJECT
    known = vocabulary().get(norm)
    if known is not None:
        return known
    if _STYLE_PREFIX.match(norm):
        return STYLE
    return phrase_role_by_rules(norm)


def looks_like_name(text: str) -> bool:
    """One to four name-like words ("thomas kindkade", "Caza Vallejo"), or a list of such
    names joined by "and" / "&" ("annie leibovitz and steve mccurry")."""
    names = _NAME_LIST.split(normalize_phrase(text))
    return len(names) <= 4 and all(_one_name(name) for name in names)


_NAME_LIST = re.compile(r"\s+(?:and|&)\s+")


def _one_name(name: str) -> bool:
    words = name.split()
    if not 1 <= len(words) <= 4:
        return False
    if any(word in _COMMON_NOUN_HINT for word in words):
        return False
    if any(word in _KEYWORD_ROLE for word in words):
        return False
    return all(_NAME_WORD.match(word) for word in words)


def roles_in_context(texts: list[str], roles: list[str]) -> list[str]:
    """Second pass over a prompt's phrase roles: a bare name in a run of artists is an artist.

    Prompts list artists together ("by artgerm, greg rutkowski, thomas kindkade, loish"), and
    no list knows every artist: a short name-like phrase that follows or precedes a phrase
    tagged as an artist (style) is one too.
    """
    out = list(roles)
    artist_like = [
        role == STYLE
        and (
            normalize_phrase(text) in artists() or bool(_STYLE_PREFIX.match(normalize_phrase(text)))
        )
        for text, role in zip(texts, roles, strict=True)
    ]
    changed = True
    while changed:
        changed = False
        for index, (text, role) in enumerate(zip(texts, out, strict=True)):
            if role != SUBJECT or index == 0 or not looks_like_name(text):
                continue
            before = index > 0 and artist_like[index - 1]
            after = index + 1 < len(out) and artist_like[index + 1]
            if before or after:
                out[index] = STYLE
                artist_like[index] = True
                changed = True
    return out
