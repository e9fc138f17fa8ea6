"""Status HTML as real Mastodon serves it -> the text the resident typed."""

from __future__ import annotations

from adapters.mastodon_html import status_text
from adapters.testing.mastodon_server import mastodon_html

OWN = {"own_urls": ["https://jun.example/@jun"], "own_names": ["@jun", "@jun@jun.example"]}


def test_the_bots_own_mention_markup_is_dropped() -> None:
    content = (
        '<p><span class="h-card" translate="no"><a href="https://jun.example/@jun" class="u-url mention">'
        "@<span>jun</span></a></span> la farola de la calle Real no funciona</p>"
    )
    assert status_text(content, **OWN) == "la farola de la calle Real no funciona"


def test_other_mentions_hashtags_and_words_stay() -> None:
    content = (
        '<p>Hola <span class="h-card"><a href="https://jun.example/@jun" class="u-url mention">@<span>jun</span></a>'
        '</span>, mi vecina <span class="h-card"><a href="https://other.example/@ana" class="u-url mention">'
        '@<span>ana</span></a></span> también lo ha visto <a href="https://jun.example/tags/farola" '
        'class="mention hashtag" rel="tag">#<span>farola</span></a></p>'
    )
    assert status_text(content, **OWN) == "Hola , mi vecina @ana también lo ha visto #farola"


def test_breaks_paragraphs_and_entities() -> None:
    content = (
        "<p>Línea uno<br>Línea&nbsp;dos &amp; &lt;tres&gt; &quot;cuatro&quot; &#39;cinco&#39;</p><p>Otro párrafo</p>"
    )
    assert status_text(content, **OWN) == "Línea uno\nLínea dos & <tres> \"cuatro\" 'cinco'\n\nOtro párrafo"


def test_a_shortened_link_comes_back_whole() -> None:
    url = "https://www.openstreetmap.org/?mlat=37.2215&mlon=-3.6353#map=19/37.2215/-3.6353"
    content = mastodon_html(f"@jun está aquí:\n{url}")
    assert "ellipsis" in content  # Mastodon shows only part of it
    assert status_text(content, **OWN) == f"está aquí:\n{url}"


def test_a_link_with_its_own_words_keeps_them() -> None:
    content = '<p>ver <a href="https://jun.example/bandos/12">el bando</a></p>'
    assert status_text(content, **OWN) == "ver el bando"


def test_a_mention_of_the_bot_by_full_address_is_dropped_too() -> None:
    content = '<p><a href="https://jun.example/users/jun" class="u-url mention">@jun@jun.example</a> hola</p>'
    assert status_text(content, **OWN) == "hola"


def test_empty_content() -> None:
    assert status_text("", **OWN) == ""
    assert (
        status_text(
            '<p><span class="h-card"><a class="u-url mention" href="https://jun.example/@jun">@jun</a></span></p>',
            **OWN,
        )
        == ""
    )
