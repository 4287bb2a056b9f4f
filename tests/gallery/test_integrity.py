"""`manage.py check_integrity` finds what storage and the database disagree on."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command

from gallery.integrity import integrity_check

pytestmark = pytest.mark.django_db


def test_a_consistent_gallery_passes(make_image, index_prompts):
    make_image(prompt="a lighthouse at dawn")
    make_image(prompt="a fox in the snow")
    index_prompts()
    report = integrity_check()
    assert report.ok
    assert report.images_checked == 2
    call_command("check_integrity")  # no CommandError


def test_it_reports_a_missing_thumbnail_and_a_file_with_other_bytes(make_image, index_prompts):
    first = make_image(prompt="a lighthouse at dawn")
    second = make_image(prompt="a fox in the snow")
    index_prompts()
    default_storage.delete(first.thumb_small.name)
    with default_storage.open(second.file.name, "wb") as handle:
        handle.write(b"not the png we stored")
    report = integrity_check()
    assert report.missing_files == [(first.id, first.thumb_small.name)]
    assert report.hash_mismatches == [(second.id, second.file.name)]
    with pytest.raises(CommandError):
        call_command("check_integrity")


def test_it_finds_and_deletes_orphan_files(make_image, index_prompts):
    make_image()
    index_prompts()
    orphan = default_storage.save("images/ab/cd/left-behind.png", ContentFile(b"x"))
    assert integrity_check().orphan_files == [orphan]
    with pytest.raises(CommandError):
        call_command("check_integrity")
    call_command("check_integrity", "--delete-orphans")
    assert not default_storage.exists(orphan)
    assert integrity_check().ok


def test_it_reports_prompts_still_waiting_for_their_embedding(make_image):
    make_image(prompt="never embedded")
    report = integrity_check(verify_hashes=False)
    assert report.prompts_without_embedding == 1
    assert not report.ok
