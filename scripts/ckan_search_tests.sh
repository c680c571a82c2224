#!/usr/bin/env bash
# Run CKAN's own search-related tests (shipped in CKAN's wheel) against the PostgreSQL search
# stand-in (plugin dataclic_pgsearch), and print "N passed, M failed, …" as the last line.
#
# Usage: scripts/ckan_search_tests.sh [extra pytest args]
# Environment: PYTHON (default .venv/bin/python), CKAN_SQLALCHEMY_URL / CKAN_REDIS_URL
# (default: the values of test.ini). Not part of the default test command; see
# docs/pgsearch.md for the list of excluded tests and why.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-$repo/.venv/bin/python}"
ckan_dir="$("$python" -c 'import ckan, os; print(os.path.dirname(ckan.__file__))')"
tests="$ckan_dir/tests"
work="$(mktemp -d "${TMPDIR:-/tmp}/ckan-search-tests.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# CKAN's wheel has no test-core.ini: start from our test.ini and add the settings CKAN's own
# tests assume (those of CKAN's test-core.ini that matter to them). Only the stand-in plugin
# is enabled; CKAN's tests load the plugins they need through `with_plugins`.
cat > "$work/ckan-tests.ini" <<EOF
[DEFAULT]
debug = false

[app:main]
use = config:$repo/test.ini
ckan.plugins = dataclic_pgsearch
ckan.site_id = test.ckan.net
ckan.auth.create_unowned_dataset = true
ckan.auth.anon_create_dataset = false
ckan.auth.user_delete_groups = true
ckan.auth.user_delete_organizations = true
ckan.auth.create_user_via_api = false
ckan.auth.roles_that_cascade_to_sub_groups = admin
ckan.auth.public_user_details = true
ckan.search.solr_commit = true
search.facets = organization groups tags res_format license_id
ckan.extra_resource_fields = alt_url
ckan.locales_offered =
ckan.max_resource_size = 10
ckan.storage_path = $work/storage
ckan.activity_streams_enabled = false
EOF
printf '[pytest]\naddopts = -p no:cacheprovider\nfilterwarnings =\n    ignore::DeprecationWarning\n' \
    > "$work/pytest.ini"

# Tests of Solr internals, not of search behaviour (reasons in docs/pgsearch.md).
excluded=(
    "test_check_invalid_schema"            # parses a Solr schema.xml file
    "test_check_schema_with_wrong_version" # parses a Solr schema.xml file
    "test_solr_user_and_password"          # Solr HTTP credentials in the connection URL
)
deselect_k=""
for name in "${excluded[@]}"; do deselect_k+=" and not $name"; done

run() {  # run <junit-name> <pytest args…>; pytest's summary goes to <junit-name>.out
    local name="$1"; shift
    (cd "$work" && "$python" -m pytest -c "$work/pytest.ini" --rootdir="$work" \
        --ckan-ini="$work/ckan-tests.ini" -p ckanext.dataclic.pgsearch.pytest_plugin \
        -q -o junit_family=xunit1 --junitxml="$work/$name.xml" "$@" | tee "$work/$name.out") \
        || true
}

# Two pytest runs only: CKAN's start-up dominates small selections.
run lib_and_cli "$tests/lib/search" "$tests/cli/test_search_index.py" -k "not _nothing_$deselect_k" "$@"
selected=(
    TestPackageSearch TestGroupList TestGroupShow TestOrganizationList TestOrganizationShow
    TestTagList TestPackageShow                                   # logic/action/test_get.py
    TestSearch                                                    # controllers/test_package.py
    TestGroupRead TestGroupSearch TestGroupInnerSearch TestGroupIndex   # controllers/test_group.py
    TestOrganizationRead TestOrganizationBulkProcess TestOrganizationSearch
    TestOrganizationInnerSearch                                   # controllers/test_organization.py
    TestHome                                                      # controllers/test_home.py
    test_pagination                                               # controllers/test_pagination.py
    TestPackageAutocomplete                                       # logic/action/test_get.py
    autocomplete                                                  # controllers/test_api.py
)
selection="$(printf ' or %s' "${selected[@]}")"
run actions_and_views "$tests/logic/action/test_get.py" "$tests/controllers/test_package.py" \
    "$tests/controllers/test_group.py" "$tests/controllers/test_organization.py" \
    "$tests/controllers/test_home.py" "$tests/controllers/test_pagination.py" \
    "$tests/controllers/test_api.py" \
    -k "(${selection# or })$deselect_k" "$@"

# ckanext-spatial's bounding-box search tests (backend solr-bbox: ext_bbox on package_search),
# when ckanext-spatial is installed (the `compat` extra). Its wheel lacks the GeoJSON files
# three of them read, and the solr-spatial-field backend needs Solr's spatial field type.
spatial_excluded=(
    "test_spatial_real_multipolygon_inside_extent_no_intersect"  # data/hawaii.geojson missing
    "test_spatial_polygon_split_across_antimeridian"             # data/chukot.geojson missing
)
if spatial_dir="$("$python" -c 'import ckanext.spatial, os; print(os.path.dirname(ckanext.spatial.__file__))' 2>/dev/null)"; then
    sed -e 's/^ckan.plugins = dataclic_pgsearch$/ckan.plugins = dataclic_pgsearch spatial_metadata spatial_query/' \
        "$work/ckan-tests.ini" > "$work/spatial-tests.ini"
    spatial_k="TestBBoxSearch"
    for name in "${spatial_excluded[@]}"; do spatial_k+=" and not $name"; done
    (cd "$work" && "$python" -m pytest -c "$work/pytest.ini" --rootdir="$work" \
        --ckan-ini="$work/spatial-tests.ini" -p ckanext.dataclic.pgsearch.pytest_plugin \
        -q -o junit_family=xunit1 --junitxml="$work/spatial.xml" \
        "$spatial_dir/tests/test_spatial_search.py" -k "$spatial_k" "$@") || true
    # "…_antimeridian" also deselects "…_antimeridian_outside_bbox": three tests in all.
    excluded+=("${spatial_excluded[@]}" "test_spatial_polygon_split_across_antimeridian_outside_bbox")
fi

"$python" - "$work" "${#excluded[@]}" <<'EOF'
import glob
import sys
import xml.etree.ElementTree as ET

import re

work, excluded = sys.argv[1], int(sys.argv[2])
passed = failed = skipped = 0
# Tests of the files run that the selection leaves out (pytest's "N deselected"): the three
# named exclusions above and the tests of those files that are not about search.
deselected = 0
for path in sorted(glob.glob(f"{work}/*.out")):
    with open(path, encoding="utf-8", errors="replace") as handle:
        found = re.findall(r"(\d+) deselected", handle.read())
    deselected += int(found[-1]) if found else 0
failures = []
for path in sorted(glob.glob(f"{work}/*.xml")):
    for case in ET.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        if case.find("skipped") is not None:
            skipped += 1
        elif case.find("failure") is not None or case.find("error") is not None:
            failed += 1
            failures.append(name)
        else:
            passed += 1
for name in failures:
    print(f"FAILED {name}")
total = passed + failed
rate = 100.0 * passed / total if total else 0.0
print(f"{passed} passed, {failed} failed, {skipped} skipped, {deselected} left out "
      f"({excluded} named exclusions and {deselected - excluded} tests of these files not "
      f"about search) ({rate:.1f}% of run tests pass)")
EOF
