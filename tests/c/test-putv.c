/*
 * test-putv.c - brain_putv (a value given in pieces) and the write through
 * the file descriptor that large values take where the store has no pages
 * for them (issue 14, goal 7).
 *
 * Values are read back byte for byte at sizes around page edges and the
 * 64 KiB threshold of the unlocked copy, with the value starting at
 * different offsets in its page (descriptions of different lengths), into
 * a new store, into pages the store gave back (punched), into a block whose
 * front has pages and whose rest was given back, and into blocks with
 * pages, written through the mapping.
 * ENOSPC while writing is in test-errors.c (it needs a small tmpfs).
 */
#include "test.h"


static brain *store(int n, uint64_t capacity)
{
    brain_config cfg = {.capacity = capacity, .max_procs = 8, .max_namespaces = 16};
    return t_create_cfg(n, &cfg);
}

/* Returns V, BIG bytes of BYTE (t_xmalloc: the caller frees it), after
 * storing it as "big" and deleting it: a block of BIG bytes is free and,
 * past the 32 MiB warm reserve, given back (the delete punches it before
 * it returns).  *HELD, when not NULL: what the file held with it stored. */
static unsigned char *store_and_give_back(brain *b, size_t big, int byte, uint64_t *held)
{
    unsigned char *v = memset(t_xmalloc(big), byte, big);
    ASSERT_OK(brain_put(b, NULL, "big", v, big, NULL, NULL));
    if (held)
        *held = t_file_ram(b);
    ASSERT_OK(brain_delete(b, NULL, "big"));
    return v;
}

static void pattern(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)((i * 131u + seed * 7919u) ^ (i >> 12) ^ (i >> 20));
}

/* Stores V (SIZE bytes) in four pieces cut at uneven places, one empty,
 * with a description of DESCLEN bytes (it moves the value within its
 * page). */
static void putv_pieces(brain *b, const char *name, const unsigned char *v, size_t size,
                        size_t desclen)
{
    size_t c1 = size / 3 + (size > 7 ? 7 : 0), c2 = size - size / 5;
    if (c1 > size)
        c1 = size;
    if (c2 < c1)
        c2 = c1;
    brain_iov iov[4] = {{v, c1}, {NULL, 0}, {v + c1, c2 - c1}, {v + c2, size - c2}};
    char desc[5000];
    memset(desc, 'd', desclen);
    desc[desclen] = 0;
    brain_put_opts o = {.desc = desc};
    ASSERT_OK(brain_putv(b, NULL, name, iov, 4, &o, NULL));
}

static void check_value(brain *b, const char *name, const unsigned char *v, size_t size)
{
    brain_view view;
    ASSERT_OK(brain_get(b, NULL, name, &view));
    ASSERT_EQ_U64(view.size, size);
    ASSERT_MEM_EQ(view.data, v, size);
    brain_view_release(b, &view);
}

static const size_t sizes[] = {
    0, 1, 63, 4095, 4096, 4097, (64u << 10) - 1, 64u << 10, (64u << 10) + 1,
    17 * 4096 - 1, 17 * 4096, 17 * 4096 + 1, (1u << 20) + 4095, (4u << 20) - 1,
    (4u << 20) + 4097, (9u << 20) + 123,
};
#define NSIZES (sizeof sizes / sizeof sizes[0])
static const size_t descs[] = {0, 40, 4000}; /* the value at 128, 192, 4160 in its block */

/* Every size, at every offset in its page, into the free space of STORE B;
 * all read back exact once all are stored.  Returns the bytes stored. */
static uint64_t put_all_and_check(brain *b, unsigned char *v, unsigned seed)
{
    uint64_t total = 0;
    for (size_t d = 0; d < 3; d++)
        for (size_t i = 0; i < NSIZES; i++) {
            char name[32];
            snprintf(name, sizeof name, "v%zu-%zu", d, i);
            pattern(v, sizes[i], seed + (unsigned)(d * NSIZES + i));
            putv_pieces(b, name, v, sizes[i], descs[d]);
            total += sizes[i];
        }
    for (size_t d = 0; d < 3; d++)
        for (size_t i = 0; i < NSIZES; i++) {
            char name[32];
            snprintf(name, sizeof name, "v%zu-%zu", d, i);
            pattern(v, sizes[i], seed + (unsigned)(d * NSIZES + i));
            check_value(b, name, v, sizes[i]);
        }
    t_check_store(b);
    return total;
}

TEST(putv_reads_back_exact_in_a_new_store)
{
    brain *b = store(0, 512ull << 20);
    unsigned char *v = t_xmalloc(10u << 20);
    put_all_and_check(b, v, 1);
    free(v);
    t_destroy(b, 0);
}

/* Into pages the store gave back: a 96 MiB value deleted leaves its block
 * punched (past the 32 MiB warm reserve); the values written there read
 * back exact, and the file holds their pages again. */
TEST(putv_reads_back_exact_into_pages_given_back)
{
    brain *b = store(0, 1ull << 30);
    size_t big = 96u << 20;
    uint64_t held = 0;
    unsigned char *v = store_and_give_back(b, big, 0xEE, &held);
    uint64_t after = t_file_ram(b);
    ASSERT_LE_U64(after + big - (2u << 20), held); /* given back */
    uint64_t total = put_all_and_check(b, v, 2);
    uint64_t now = t_file_ram(b);
    t_log("file held %.1f MiB, %.1f after the delete, %.1f with %.1f MiB of values",
          held / 1048576.0, after / 1048576.0, now / 1048576.0, total / 1048576.0);
    ASSERT_GE_U64(now, after + total - (1u << 20)); /* the written pages are held */
    free(v);
    t_destroy(b, 0);
}

/* A block whose front has pages and whose rest was given back: a 24 MiB
 * value is freed (its reader gone) in the same hold of the lock as a
 * 40 MiB value is placed; its block, merged with the given-back space
 * after it, takes the new value: 24 MiB copied into the kept pages
 * through the mapping, the rest written through the file descriptor. */
TEST(putv_reads_back_exact_into_a_partly_backed_block)
{
    brain *b = store(0, 1ull << 30);
    size_t big = 96u << 20, front = 24u << 20, size = 40u << 20;
    unsigned char *v = store_and_give_back(b, big, 0x11, NULL);
    pattern(v, front, 3);
    brain_reservation *res;
    void *data;
    ASSERT_OK(brain_reserve(b, NULL, "p", front, NULL, &res, &data));
    memcpy(data, v, front);
    ASSERT_OK(brain_publish(b, res, NULL));
    brain_view view;
    ASSERT_OK(brain_get(b, NULL, "p", &view));
    ASSERT_OK(brain_delete(b, NULL, "p")); /* pinned: stays in limbo */
    brain_view_release(b, &view);
    uint64_t before = t_file_ram(b);
    pattern(v, size, 4);
    putv_pieces(b, "q", v, size, 40); /* reclaims p, takes its block */
    uint64_t now = t_file_ram(b);
    t_log("file held %.1f MiB before, %.1f MiB after a %.1f MiB value",
          before / 1048576.0, now / 1048576.0, size / 1048576.0);
    ASSERT_LE_U64(now, before + size - front + (2u << 20)); /* the front's pages reused */
    check_value(b, "q", v, size);
    t_check_store(b);
    /* and again, replacing it: the value before is freed in the hold */
    pattern(v, size, 5);
    putv_pieces(b, "q", v, size, 0);
    pattern(v, size, 6);
    putv_pieces(b, "q", v, size, 0);
    check_value(b, "q", v, size);
    t_check_store(b);
    free(v);
    t_destroy(b, 0);
}

/* Values alternating between brain_reserve (written through the mapping)
 * and brain_put (through the mapping where the reused block has pages,
 * through the descriptor where not) read back exact. */
TEST(put_into_blocks_mapped_here_and_not)
{
    brain *b = store(0, 1ull << 30);
    size_t size = 12u << 20;
    unsigned char *v = t_xmalloc(size);
    for (int round = 0; round < 4; round++) {
        brain_reservation *res;
        void *data;
        pattern(v, size, 10 + (unsigned)round);
        ASSERT_OK(brain_reserve(b, NULL, "r", size, NULL, &res, &data));
        memcpy(data, v, size);
        ASSERT_OK(brain_publish(b, res, NULL));
        check_value(b, "r", v, size);
        pattern(v, size, 20 + (unsigned)round);
        ASSERT_OK(brain_put(b, NULL, "r", v, size, NULL, NULL)); /* reuses a mapped block */
        check_value(b, "r", v, size);
        pattern(v, size - 1, 30 + (unsigned)round);
        ASSERT_OK(brain_put(b, NULL, "s", v, size - 1, NULL, NULL));
        check_value(b, "s", v, size - 1);
    }
    t_check_store(b);
    free(v);
    t_destroy(b, 0);
}

/* A pickle layout in pieces (header, stream, aligned buffers, the zeros
 * between), as the Python front end stores a frame: it parses back. */
TEST(putv_pickle_layout_in_pieces)
{
    brain *b = store(0, 256ull << 20);
    uint64_t lens[2] = {3u << 20, 100001};
    uint64_t offs[3], total = 0;
    const char stream[] = "\x80\x05stream";
    uint64_t slen = sizeof stream - 1;
    ASSERT_OK(brain_pickle_layout(slen, 2, lens, offs, &total));
    unsigned char *hdr = t_xmalloc((size_t)offs[0]);
    ASSERT_OK(brain_pickle_write_header(hdr, (size_t)total, slen, 2, lens));
    unsigned char *b0 = t_xmalloc((size_t)lens[0]), *b1 = t_xmalloc((size_t)lens[1]);
    pattern(b0, (size_t)lens[0], 41);
    pattern(b1, (size_t)lens[1], 42);
    static const char zeros[64];
    brain_iov iov[] = {
        {hdr, (size_t)offs[0]},
        {stream, (size_t)slen},
        {zeros, (size_t)(offs[1] - offs[0] - slen)},
        {b0, (size_t)lens[0]},
        {zeros, (size_t)(offs[2] - offs[1] - lens[0])},
        {b1, (size_t)lens[1]},
        {zeros, (size_t)(total - offs[2] - lens[1])},
    };
    brain_put_opts o = {.type = BRAIN_TYPE_PICKLE};
    ASSERT_OK(brain_putv(b, NULL, "pk", iov, sizeof iov / sizeof iov[0], &o, NULL));
    brain_view view;
    ASSERT_OK(brain_get(b, NULL, "pk", &view));
    ASSERT_EQ_U64(view.size, total);
    ASSERT_EQ_U64(view.info.type, BRAIN_TYPE_PICKLE);
    brain_pickle pk;
    ASSERT_OK(brain_pickle_parse(view.data, (size_t)view.size, &pk));
    ASSERT_EQ_U64(pk.nbufs, 2);
    ASSERT_EQ_U64(pk.stream_len, slen);
    const unsigned char *d = view.data;
    ASSERT_MEM_EQ(d + pk.stream_offset, stream, slen);
    ASSERT_MEM_EQ(d + pk.buf_offsets[0], b0, lens[0]);
    ASSERT_MEM_EQ(d + pk.buf_offsets[1], b1, lens[1]);
    brain_view_release(b, &view);
    free(hdr);
    free(b0);
    free(b1);
    t_destroy(b, 0);
}

/* Bad arguments: clear errors, nothing stored, nothing lost. */
TEST(putv_bad_arguments)
{
    brain *b = store(0, 256ull << 20);
    ASSERT_OK(brain_put(b, NULL, "keep", "kept", 4, NULL, NULL));
    uint64_t used = t_used(b);
    brain_iov iov[2] = {{"ab", 2}, {NULL, 5}};
    ASSERT_ERR(brain_putv(b, NULL, "x", NULL, 2, NULL, NULL), BRAIN_EINVAL);
    ASSERT_STR_CONTAINS(t_detail_copy(), "iov is NULL");
    ASSERT_ERR(brain_putv(b, NULL, "x", iov, 2, NULL, NULL), BRAIN_EINVAL);
    ASSERT_STR_CONTAINS(t_detail_copy(), "piece 1");
    brain_iov huge[2] = {{"a", 1}, {"b", (size_t)BRAIN_MAX_CAPACITY}};
    ASSERT_ERR(brain_putv(b, NULL, "x", huge, 2, NULL, NULL), BRAIN_ETOOBIG);
    ASSERT_STR_CONTAINS(t_detail_copy(), "larger than any store");
    ASSERT_ERR(brain_putv(b, NULL, "", iov, 1, NULL, NULL), BRAIN_ENAME);
    brain_put_opts bad = {.flags = 0x80};
    ASSERT_ERR(brain_putv(b, NULL, "x", iov, 1, &bad, NULL), BRAIN_EINVAL);
    ASSERT_ERR(brain_putv(NULL, NULL, "x", iov, 1, NULL, NULL), BRAIN_EINVAL);
    /* text checked across pieces: "\xc3" + "(" is not UTF-8, "\xc3" + "\xa9" is */
    brain_put_opts str = {.type = BRAIN_TYPE_STR};
    brain_iov badtext[2] = {{"\xc3", 1}, {"(", 1}}, goodtext[2] = {{"\xc3", 1}, {"\xa9", 1}};
    ASSERT_ERR(brain_putv(b, NULL, "t", badtext, 2, &str, NULL), BRAIN_ETYPE);
    ASSERT_EQ_INT(brain_exists(b, NULL, "t"), 0);
    ASSERT_OK(brain_putv(b, NULL, "t", goodtext, 2, &str, NULL));
    /* a large pickle whose header is malformed: refused once written, its
     * block given back */
    size_t size = 1u << 20;
    unsigned char *v = t_xmalloc(size);
    memset(v, 0x42, size);
    brain_iov pieces[2] = {{v, 4096}, {v + 4096, size - 4096}};
    brain_put_opts pk = {.type = BRAIN_TYPE_PICKLE};
    uint64_t used2 = t_used(b);
    ASSERT_ERR(brain_putv(b, NULL, "pk", pieces, 2, &pk, NULL), BRAIN_ETYPE);
    ASSERT_EQ_INT(brain_exists(b, NULL, "pk"), 0);
    ASSERT_EQ_U64(t_used(b), used2);
    ASSERT_ERR(brain_putv(b, NULL, "pk", pieces, 1, &pk, NULL), BRAIN_ETYPE);
    /* no pieces: an empty value */
    ASSERT_OK(brain_putv(b, NULL, "empty", NULL, 0, NULL, NULL));
    check_value(b, "empty", NULL, 0);
    ASSERT_GT_U64(t_used(b), used);
    check_value(b, "keep", (const unsigned char *)"kept", 4);
    t_check_store(b);
    free(v);
    t_destroy(b, 0);
}

/* brain_put_array stores its header and data as two pieces (brain_putv): a
 * large array into pages the store gave back parses and reads back. */
TEST(put_array_large_into_pages_given_back)
{
    brain *b = store(0, 1ull << 30);
    size_t big = 96u << 20;
    unsigned char *v = store_and_give_back(b, big, 0x77, NULL);
    brain_array a;
    uint64_t shape[2] = {1000, 1537};
    ASSERT_OK(brain_array_init(&a, "<f8", 2, shape));
    double *data = (double *)v;
    for (size_t i = 0; i < 1000 * 1537; i++)
        data[i] = (double)i * 0.5 - 3;
    ASSERT_OK(brain_put_array(b, NULL, "m", &a, data, NULL, NULL));
    brain_view view;
    ASSERT_OK(brain_get(b, NULL, "m", &view));
    ASSERT_EQ_U64(view.size, a.data_offset + a.nbytes);
    brain_array p;
    ASSERT_OK(brain_array_parse(view.data, view.size, &p));
    ASSERT_EQ_U64(p.shape[1], 1537);
    ASSERT_MEM_EQ(p.data, data, (size_t)a.nbytes);
    brain_view_release(b, &view);
    t_check_store(b);
    free(v);
    t_destroy(b, 0);
}
