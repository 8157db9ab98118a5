"""Which tags a build of each kind gets (atomic-reactor's tag_from_config rule)."""

from koji_containerbuild.image.imagetags import ImageTags, tags_for_build

UNIQUE = "1.0-3-42-20250101000000"


def tags(**kind) -> ImageTags:
    fields = {"scratch": False, "isolated": False, "version": "1.0", "release": "3"}
    fields.update(kind)
    return tags_for_build(UNIQUE, additional_tags=["v1", "stable"], **fields)


def test_scratch_build_gets_only_its_unique_tag():
    assert tags(scratch=True) == ImageTags(unique=[UNIQUE])


def test_isolated_build_gets_version_release_and_no_floating_tag():
    assert tags(isolated=True) == ImageTags(unique=[UNIQUE], primary=["1.0-3"])


def test_normal_build_moves_latest_version_and_additional_tags():
    assert tags() == ImageTags(
        unique=[UNIQUE], primary=["1.0-3"], floating=["latest", "1.0", "v1", "stable"]
    )


def test_build_without_release_gets_only_its_unique_tag():
    assert tags(release=None) == ImageTags(unique=[UNIQUE])


def test_additional_tag_repeating_latest_or_version_is_pushed_once():
    image = tags_for_build(
        UNIQUE,
        scratch=False,
        isolated=False,
        version="2",
        release="1",
        additional_tags=["latest", "2", "x"],
    )
    assert image.floating == ["latest", "2", "x"]


def test_pushed_lists_unique_then_primary_then_floating():
    assert tags().pushed() == [UNIQUE, "1.0-3", "latest", "1.0", "v1", "stable"]
