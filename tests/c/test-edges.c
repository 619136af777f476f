/*
 * test-edges.c - edge cases settled late: datetime units in dtypes, creating
 * a store in a directory that does not exist, shrinking while only replaced
 * values (still viewed) are in the way, DEL in names.
 */
#include "test.h"

#include <stdlib.h>

TEST(array_datetime_units_are_numpys)
{
    brain_array a;
    uint64_t shape[1] = {4};
    const char *good[] = {"<M8[ns]", "<M8[us]", "<m8[s]", "<M8[D]", "<M8[generic]", "<M8"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        ASSERT_OK(brain_array_init(&a, good[i], 1, shape));
    const char *bad[] = {"<M8[parsec]", "<M8[]", "<M8[ns", "<M8[ns]x", "<f8[ns]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ASSERT_ERR(brain_array_init(&a, bad[i], 1, shape), BRAIN_ETYPE);
}

TEST(create_in_missing_directory_says_so)
{
    brain *b = NULL;
    ASSERT_ERR(brain_open(t_path("no-such-dir/store"), BRAIN_CREATE, NULL, &b), BRAIN_EIO);
    ASSERT_STR_CONTAINS(t_detail_copy(), "directory does not exist");
}

TEST(shrink_blocked_only_by_viewed_replaced_values_is_ebusy)
{
    brain *b = t_create(0, 32 << 20);
    char *buf = t_xmalloc(8 << 20);
    t_vfill(buf, 8 << 20, 1);
    ASSERT_OK(brain_put(b, NULL, "big", buf, 8 << 20, NULL, NULL));
    brain_view v;
    ASSERT_OK(brain_get(b, NULL, "big", &v));
    ASSERT_OK(brain_delete(b, NULL, "big")); /* 8 MB in limbo, viewed */
    ASSERT_ERR(brain_resize(b, 6 << 20), BRAIN_EBUSY);
    ASSERT_STR_CONTAINS(t_detail_copy(), "still viewed");
    ASSERT_VALUE(v.data, v.size, 1);
    brain_view_release(b, &v);
    ASSERT_OK(brain_resize(b, 6 << 20));
    ASSERT_EQ_U64(t_stats(b).capacity, 6 << 20);
    /* values that do not fit are EFULL */
    ASSERT_OK(brain_put(b, NULL, "big", buf, 4 << 20, NULL, NULL));
    ASSERT_ERR(brain_resize(b, 3 << 20), BRAIN_EFULL);
    free(buf);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(del_character_is_allowed_in_names)
{
    brain *b = t_create(0, 4 << 20);
    ASSERT_OK(brain_put(b, NULL, "a\x7f" "b", "x", 1, NULL, NULL));
    ASSERT_EQ_INT(brain_exists(b, NULL, "a\x7f" "b"), 1);
    ASSERT_ERR(brain_put(b, NULL, "a\x1f" "b", "x", 1, NULL, NULL), BRAIN_ENAME);
    t_destroy(b, 0);
}
