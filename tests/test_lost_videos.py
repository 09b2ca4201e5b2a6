"""Lost videos (openvclip.data.lost_videos): the counts a split keeps and the limit a data set allows."""

import pytest

from openvclip.data.lost_videos import DEFAULT_MAX_UNREADABLE, SplitVideos, check_losses
from openvclip.errors import UserError


def test_a_split_counts_what_its_annotations_list():
    videos = SplitVideos(missing=3, unreadable=2, used=95)
    assert videos.listed == 100 and videos.lost_fraction == pytest.approx(0.05)
    assert videos.as_dict() == {"listed": 100, "missing": 3, "unreadable": 2, "scored": 95}
    assert SplitVideos(0, 0, 0).lost_fraction == 0.0  # an empty split loses nothing


def test_the_limit_allows_up_to_its_fraction_and_names_the_lists_past_it():
    check_losses("k400", "val", SplitVideos(3, 2, 95), None, "m.missing.csv", "store/meta.json")  # 5%: the default
    assert DEFAULT_MAX_UNREADABLE == 0.05
    with pytest.raises(UserError) as refused:
        check_losses("k400", "val", SplitVideos(3, 3, 94), None, "m.missing.csv", "store/meta.json")
    message = str(refused.value)
    assert message.startswith("data set k400, split val: 6 of 100 listed videos are lost (6.0%: 3 missing on disk,")
    assert "m.missing.csv" in message and "store/meta.json" in message
    assert "datasets.k400.max_unreadable = 0.05" in message
    check_losses("k400", "val", SplitVideos(3, 3, 94), 0.06, "m.missing.csv", "store/meta.json")
    with pytest.raises(UserError, match="max_unreadable = 0 allows"):
        check_losses("hmdb", "test1", SplitVideos(0, 1, 99), 0, "m.missing.csv", "store/meta.json")
