#!/usr/bin/env bash
# Translations of ckanext-dataclic.
#
#   scripts/i18n.sh update    extract strings into the .pot and merge them into every .po
#   scripts/i18n.sh compile   compile every .po into the .mo the plugin loads (committed, so a
#                             fresh install shows French without a build step)
#   scripts/i18n.sh check     print the French coverage; fail if a string is untranslated
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BABEL=".venv/bin/pybabel"
DOMAIN=ckanext-dataclic
I18N=ckanext/dataclic/i18n
POT="$I18N/$DOMAIN.pot"

update() {
    "$BABEL" extract -F babel.cfg -k _ -k ungettext:1,2 -k ngettext:1,2 -k N_ \
        -k gettext_default -k ngettext_default:1,2 \
        --add-comments=TRANSLATORS: --project=ckanext-dataclic --no-location --sort-output \
        -o "$POT" ckanext
    # Messages babel cannot find in our sources: harvester descriptions (class attributes) and
    # ckanext-harvest's pages, which nobody else translates into French.
    .venv/bin/python -m ckanext.dataclic.translation_sources add-to-pot "$POT"
    for lang in fr; do
        if [ -f "$I18N/$lang/LC_MESSAGES/$DOMAIN.po" ]; then
            "$BABEL" update -D "$DOMAIN" -i "$POT" -d "$I18N" -l "$lang" --no-fuzzy-matching
        else
            "$BABEL" init -D "$DOMAIN" -i "$POT" -d "$I18N" -l "$lang"
        fi
    done
}

compile() {
    "$BABEL" compile -D "$DOMAIN" -d "$I18N" --statistics
}

check() {
    .venv/bin/python -m ckanext.dataclic.translation_sources coverage
    .venv/bin/python - "$I18N/fr/LC_MESSAGES/$DOMAIN.po" <<'PY'
import sys
from babel.messages.pofile import read_po
with open(sys.argv[1], "rb") as f:
    catalog = read_po(f)
missing = [m.id for m in catalog if m.id and (not m.string or (isinstance(m.string, tuple) and not all(m.string)) or m.fuzzy)]
if missing:
    sys.exit("untranslated or fuzzy in French: " + "; ".join(map(str, missing[:20])))
print(f"French: {len([m for m in catalog if m.id])} strings, all translated")
PY
}

case "${1:-}" in
    update) update ;;
    compile) compile ;;
    check) check ;;
    *) echo "usage: $0 update|compile|check" >&2; exit 2 ;;
esac
