"""Which recipes `tunestack images build --stack NAME` runs (tunestack/recipes.py): exactly the tags a
stack's machines need, every PostgreSQL major included (issue #25: staging and prod pinned 16 and
17, which a build of the default set never made)."""
from __future__ import annotations

import pytest

from tunestack.images import images_by_machine
from tunestack.plan import plan_stack
from tunestack.recipes import recipes_for


def needs(stack: str) -> set[str]:
    return set().union(*images_by_machine(plan_stack(stack, target="docker")).values())


@pytest.mark.parametrize("stack,major", [("staging", 16), ("prod", 17), ("dev", 15)])
def test_a_stack_gets_its_own_postgresql_major(stack, major):
    tags = {r.tag for r in recipes_for(needs(stack), "fetched")}
    assert f"tunestack/postgres:{major}" in tags
    assert not any(t.startswith("tunestack/postgres:") and t != f"tunestack/postgres:{major}" for t in tags)


def test_only_our_tags_and_each_once():
    recipes = recipes_for(needs("staging"), "pgdg")
    assert sorted(r.tag for r in recipes) == ["tunestack/haproxy:2.6", "tunestack/pgbouncer:1.18",
                                               "tunestack/postgres:16", "tunestack/redis:7.0"]  # the app is ghcr.io's


@pytest.mark.parametrize("source,dockerfile,fetched", [
    ("pgdg", "images/postgres/Dockerfile", None),              # apt.postgresql.org at build time
    ("fetched", "images/postgres/Dockerfile.fetched", 16),     # scripts/fetch-postgres' build as server/
])
def test_where_another_major_comes_from(source, dockerfile, fetched):
    (recipe,) = recipes_for({"tunestack/postgres:16"}, source)
    assert (recipe.dockerfile, recipe.fetched_server) == (dockerfile, fetched)


def test_debian_12s_major_is_always_debians():
    (recipe,) = recipes_for({"tunestack/postgres:15"}, "fetched")
    assert recipe.dockerfile == "images/postgres/Dockerfile" and recipe.fetched_server is None


def test_an_alias_is_made_by_its_source_recipe():
    assert [r.tag for r in recipes_for({"tunestack/refapp:0.2.0"})] == ["tunestack/refapp:0.1.0"]
