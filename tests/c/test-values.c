/* test-values.c - typed layouts (n-d arrays, pickle-5 values) and the size
 * helpers brain_parse_size / brain_format_size. */
#include "test.h"

TEST(array_header_size)
{
    size_t prev = 0;
    for (uint32_t nd = 0; nd <= BRAIN_ARRAY_MAX_DIMS; nd++) {
        size_t h = brain_array_header_size(nd);
        ASSERT_GT(h, 0);
        ASSERT_EQ_INT(h % 64, 0);
        ASSERT_GE(h, prev);
        ASSERT_GE(h, 8 * (size_t)nd); /* room for the shape */
        prev = h;
    }
}

TEST(array_init_describes)
{
    brain_array a;
    uint64_t shape[3] = {3, 4, 5};
    ASSERT_OK(brain_array_init(&a, "<f8", 2, shape));
    ASSERT_STR_EQ(a.dtype, "<f8");
    ASSERT_EQ_INT(a.ndim, 2);
    ASSERT_EQ_U64(a.shape[0], 3);
    ASSERT_EQ_U64(a.shape[1], 4);
    ASSERT_EQ_U64(a.itemsize, 8);
    ASSERT_EQ_U64(a.nbytes, 96);
    ASSERT_EQ_U64(a.data_offset, brain_array_header_size(2));
    ASSERT_EQ_INT(a.data_offset % 64, 0);

    struct {
        const char *dtype;
        uint64_t itemsize;
    } ok[] = {{"|u1", 1}, {"<i4", 4}, {"|b1", 1}, {"<M8[ns]", 8},
              {"<f4", 4}, {"<i8", 8}, {">f8", 8}, {"<u2", 2},
              {"|i1", 1}, {"<c16", 16}, {"<m8[us]", 8}};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        int rc = brain_array_init(&a, ok[i].dtype, 3, shape);
        ASSERT_MSG(rc == 0, "dtype %s: %s", ok[i].dtype, brain_errname(rc));
        ASSERT_EQ_U64(a.itemsize, ok[i].itemsize);
        ASSERT_EQ_U64(a.nbytes, 60 * ok[i].itemsize);
    }
    /* an empty dimension */
    uint64_t zero[2] = {0, 7};
    ASSERT_OK(brain_array_init(&a, "<f8", 2, zero));
    ASSERT_EQ_U64(a.nbytes, 0);
    /* the most dimensions */
    uint64_t ones[BRAIN_ARRAY_MAX_DIMS];
    for (int i = 0; i < BRAIN_ARRAY_MAX_DIMS; i++)
        ones[i] = 1 + (i == 5);
    ASSERT_OK(brain_array_init(&a, "|u1", BRAIN_ARRAY_MAX_DIMS, ones));
    ASSERT_EQ_U64(a.nbytes, 2);
}

TEST(array_init_refuses_bad)
{
    brain_array a;
    uint64_t shape[BRAIN_ARRAY_MAX_DIMS + 1];
    for (int i = 0; i <= BRAIN_ARRAY_MAX_DIMS; i++)
        shape[i] = 2;
    const char *bad[] = {"", "<x8", "<f", "xyz", "<f8junk", "<f0", "<M8[]",
                         "<f8[ns]", "0123456789abcdefXYZ"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = brain_array_init(&a, bad[i], 1, shape);
        ASSERT_MSG(rc == BRAIN_ETYPE, "dtype \"%s\": %s", bad[i],
                   brain_errname(rc));
        t_check_detail(__FILE__, __LINE__, bad[i], t_detail_copy());
    }
    ASSERT_ERR(brain_array_init(&a, "<f8", BRAIN_ARRAY_MAX_DIMS + 1, shape),
               BRAIN_ETYPE);
    uint64_t huge[2] = {1ull << 40, 1ull << 40};
    ASSERT_ERR(brain_array_init(&a, "<f8", 2, huge), BRAIN_ETYPE);
    uint64_t huge1[1] = {UINT64_MAX / 4};
    ASSERT_ERR(brain_array_init(&a, "<f8", 1, huge1), BRAIN_ETYPE);
    ASSERT_ERR2(brain_array_init(&a, NULL, 1, shape), BRAIN_ETYPE,
                BRAIN_EINVAL);
    ASSERT_ERR2(brain_array_init(NULL, "<f8", 1, shape), BRAIN_ETYPE,
                BRAIN_EINVAL);
}

TEST(array_header_roundtrip_and_parse)
{
    brain_array a, p;
    uint64_t shape[3] = {2, 3, 4};
    ASSERT_OK(brain_array_init(&a, "<i4", 3, shape));
    size_t total = (size_t)(a.data_offset + a.nbytes);
    unsigned char *buf = t_xmalloc(total);
    memset(buf, 0, total);
    ASSERT_OK(brain_array_write_header(&a, buf, (size_t)a.data_offset));
    int32_t *d = (int32_t *)(buf + a.data_offset);
    for (int i = 0; i < 24; i++)
        d[i] = i * 7;
    memset(&p, 0, sizeof p);
    ASSERT_OK(brain_array_parse(buf, total, &p));
    ASSERT_STR_EQ(p.dtype, "<i4");
    ASSERT_EQ_INT(p.ndim, 3);
    for (int i = 0; i < 3; i++)
        ASSERT_EQ_U64(p.shape[i], shape[i]);
    ASSERT_EQ_U64(p.itemsize, 4);
    ASSERT_EQ_U64(p.nbytes, 96);
    ASSERT_EQ_U64(p.data_offset, a.data_offset);
    ASSERT(p.data == buf + a.data_offset);

    /* header too small a buffer */
    ASSERT_ERR2(brain_array_write_header(&a, buf, (size_t)a.data_offset - 1),
                BRAIN_ERANGE, BRAIN_EINVAL);
    /* truncated data, short header, trailing junk */
    ASSERT_ERR(brain_array_parse(buf, total - 1, &p), BRAIN_ETYPE);
    ASSERT_ERR(brain_array_parse(buf, 10, &p), BRAIN_ETYPE);
    ASSERT_ERR(brain_array_parse(buf, 0, &p), BRAIN_ETYPE);
    unsigned char *longer = t_xmalloc(total + 64);
    memcpy(longer, buf, total);
    ASSERT_ERR(brain_array_parse(longer, total + 64, &p), BRAIN_ETYPE);
    free(longer);
    /* damaged header bytes, one at a time: refused or still consistent */
    for (size_t i = 0; i < (size_t)a.data_offset; i++) {
        unsigned char saved = buf[i];
        buf[i] ^= 0xff;
        int rc = brain_array_parse(buf, total, &p);
        if (rc == 0) {
            ASSERT_LE_U64(p.data_offset + p.nbytes, total);
            ASSERT_EQ_INT(p.data_offset % 64, 0);
        } else {
            ASSERT_EQ_INT(rc, BRAIN_ETYPE);
        }
        buf[i] = saved;
    }
    free(buf);
}

TEST(put_array_and_read_back)
{
    brain *b = t_create(0, 0);
    brain_array a;
    uint64_t shape[2] = {100, 33};
    ASSERT_OK(brain_array_init(&a, "<f8", 2, shape));
    double *data = t_xmalloc((size_t)a.nbytes);
    for (int i = 0; i < 3300; i++)
        data[i] = i * 0.25 - 17;
    uint64_t v = 0;
    brain_put_opts o = {.desc = "matrix"};
    ASSERT_OK(brain_put_array(b, NULL, "m", &a, data, &o, &v));
    ASSERT_GT_U64(v, 0);
    brain_view view = {0};
    ASSERT_OK(brain_get(b, NULL, "m", &view));
    ASSERT_EQ_INT(view.info.type, BRAIN_TYPE_ARRAY);
    ASSERT_EQ_U64(view.size, a.data_offset + a.nbytes);
    ASSERT_STR_EQ(view.info.desc, "matrix");
    brain_array p;
    ASSERT_OK(brain_array_parse(view.data, view.size, &p));
    ASSERT_STR_EQ(p.dtype, "<f8");
    ASSERT_EQ_U64(p.shape[0], 100);
    ASSERT_EQ_U64(p.shape[1], 33);
    ASSERT_EQ_INT((uintptr_t)p.data % 64, 0);
    ASSERT_MEM_EQ(p.data, data, (size_t)a.nbytes);
    brain_view_release(b, &view);
    /* a header written by hand and put as bytes of type ARRAY is the same */
    size_t total = (size_t)(a.data_offset + a.nbytes);
    unsigned char *raw = t_xmalloc(total);
    memset(raw, 0, total);
    ASSERT_OK(brain_array_write_header(&a, raw, total));
    memcpy(raw + a.data_offset, data, (size_t)a.nbytes);
    brain_put_opts ot = {.type = BRAIN_TYPE_ARRAY};
    ASSERT_OK(brain_put(b, NULL, "m2", raw, total, &ot, NULL));
    /* and one byte short is refused */
    ASSERT_ERR(brain_put(b, NULL, "m3", raw, total - 1, &ot, NULL),
               BRAIN_ETYPE);
    ASSERT_EQ_INT(brain_exists(b, NULL, "m3"), 0);
    /* a zero-sized array */
    uint64_t zero[1] = {0};
    ASSERT_OK(brain_array_init(&a, "|u1", 1, zero));
    ASSERT_OK(brain_put_array(b, NULL, "empty", &a, NULL, NULL, NULL));
    ASSERT_OK(brain_get(b, NULL, "empty", &view));
    ASSERT_OK(brain_array_parse(view.data, view.size, &p));
    ASSERT_EQ_U64(p.nbytes, 0);
    brain_view_release(b, &view);
    ASSERT_ERR(brain_put_array(b, NULL, "x", NULL, data, NULL, NULL),
               BRAIN_EINVAL);
    free(raw);
    free(data);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(pickle_layout_roundtrip)
{
    uint64_t lens[3] = {1000, 10, 0};
    uint64_t offsets[4], total = 0;
    ASSERT_OK(brain_pickle_layout(123, 3, lens, offsets, &total));
    /* stream then buffers, each buffer 64-aligned, no overlap */
    uint64_t end = offsets[0] + 123;
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ_INT(offsets[i + 1] % 64, 0);
        ASSERT_GE_U64(offsets[i + 1], end);
        end = offsets[i + 1] + lens[i];
    }
    ASSERT_GE_U64(total, end);
    ASSERT_LT_U64(total, end + 64 * 8 + 4096);
    unsigned char *v = t_xmalloc((size_t)total);
    memset(v, 0, (size_t)total);
    ASSERT_OK(brain_pickle_write_header(v, (size_t)total, 123, 3, lens));
    for (int i = 0; i < 123; i++)
        v[offsets[0] + (uint64_t)i] = (unsigned char)i;
    for (int i = 0; i < 1000; i++)
        v[offsets[1] + (uint64_t)i] = (unsigned char)(i * 3);
    brain_pickle p;
    ASSERT_OK(brain_pickle_parse(v, (size_t)total, &p));
    ASSERT_EQ_INT(p.nbufs, 3);
    ASSERT_EQ_U64(p.stream_offset, offsets[0]);
    ASSERT_EQ_U64(p.stream_len, 123);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ_U64(p.buf_offsets[i], offsets[i + 1]);
        ASSERT_EQ_U64(p.buf_lens[i], lens[i]);
    }
    ASSERT((const unsigned char *)p.buf_offsets >= v &&
           (const unsigned char *)p.buf_offsets < v + total);

    /* through the store */
    brain *b = t_create(0, 0);
    brain_put_opts o = {.type = BRAIN_TYPE_PICKLE};
    ASSERT_OK(brain_put(b, NULL, "pk", v, (size_t)total, &o, NULL));
    brain_view view = {0};
    ASSERT_OK(brain_get(b, NULL, "pk", &view));
    ASSERT_EQ_INT(view.info.type, BRAIN_TYPE_PICKLE);
    brain_pickle q;
    ASSERT_OK(brain_pickle_parse(view.data, view.size, &q));
    ASSERT_EQ_INT(q.nbufs, 3);
    const unsigned char *vd = view.data;
    for (int i = 0; i < 3; i++)
        ASSERT_EQ_INT((uintptr_t)(vd + q.buf_offsets[i]) % 64, 0);
    ASSERT_MEM_EQ(vd + q.buf_offsets[0], v + offsets[1], 1000);
    ASSERT_MEM_EQ(vd + q.stream_offset, v + offsets[0], 123);
    brain_view_release(b, &view);

    /* damaged: truncated, shrunk header, too short a value */
    ASSERT_ERR(brain_pickle_parse(v, (size_t)end - 1, &p), BRAIN_ETYPE);
    ASSERT_ERR(brain_pickle_parse(v, 8, &p), BRAIN_ETYPE);
    ASSERT_ERR(brain_put(b, NULL, "bad", v, (size_t)end - 1, &o, NULL),
               BRAIN_ETYPE);
    ASSERT_ERR2(brain_pickle_write_header(v, 16, 123, 3, lens), BRAIN_ERANGE,
                BRAIN_EINVAL);
    for (size_t i = 0; i < offsets[0]; i++) {
        unsigned char saved = v[i];
        v[i] ^= 0xa5;
        int rc = brain_pickle_parse(v, (size_t)total, &p);
        if (rc == 0) {
            ASSERT_LE_U64(p.stream_offset + p.stream_len, total);
            for (uint32_t k = 0; k < p.nbufs; k++)
                ASSERT_LE_U64(p.buf_offsets[k] + p.buf_lens[k], total);
        } else {
            ASSERT_EQ_INT(rc, BRAIN_ETYPE);
        }
        v[i] = saved;
    }
    free(v);

    /* no buffers at all */
    ASSERT_OK(brain_pickle_layout(5, 0, NULL, offsets, &total));
    v = t_xmalloc((size_t)total);
    ASSERT_OK(brain_pickle_write_header(v, (size_t)total, 5, 0, NULL));
    memcpy(v + offsets[0], "\x80\x05N.", 4);
    ASSERT_OK(brain_pickle_parse(v, (size_t)total, &p));
    ASSERT_EQ_INT(p.nbufs, 0);
    ASSERT_OK(brain_put(b, NULL, "pk0", v, (size_t)total, &o, NULL));
    free(v);
    /* an absurd layout overflows */
    uint64_t big[2] = {UINT64_MAX - 10, 100};
    ASSERT_ERR2(brain_pickle_layout(10, 2, big, offsets, &total), BRAIN_ETYPE,
                BRAIN_EINVAL);
    t_check_store(b);
    t_destroy(b, 0);
}

/* A pickle header with a hint: what the producer says it holds. */
TEST(pickle_hint_roundtrip_and_damage)
{
    uint64_t lens[2] = {100, 7};
    uint64_t offsets[3], plain[3], total = 0, ptotal = 0;
    const char *hint = "DataFrame 1000000x7";
    size_t hl = strlen(hint);
    ASSERT_OK(brain_pickle_layout_hint(40, 2, lens, hl, offsets, &total));
    ASSERT_OK(brain_pickle_layout(40, 2, lens, plain, &ptotal));
    ASSERT_GE_U64(offsets[0], plain[0]);
    unsigned char *v = t_xmalloc((size_t)total);
    memset(v, 0xee, (size_t)total);
    ASSERT_OK(brain_pickle_write_header_hint(v, (size_t)total, 40, 2, lens, hint, hl));
    memset(v + offsets[0], 'p', 40);
    brain_pickle p;
    ASSERT_OK(brain_pickle_parse(v, (size_t)total, &p));
    ASSERT_EQ_U64(p.hint_len, hl);
    ASSERT_MEM_EQ(p.hint, hint, hl);
    ASSERT_EQ_INT(p.nbufs, 2);
    ASSERT_EQ_U64(p.stream_offset, offsets[0]);
    ASSERT_EQ_U64(p.buf_offsets[1], offsets[2]);
    /* through the store and back */
    brain *b = t_create(0, 0);
    brain_put_opts o = {.type = BRAIN_TYPE_PICKLE};
    ASSERT_OK(brain_put(b, NULL, "pk", v, (size_t)total, &o, NULL));
    brain_view view = {0};
    ASSERT_OK(brain_get(b, NULL, "pk", &view));
    brain_pickle q;
    ASSERT_OK(brain_pickle_parse(view.data, view.size, &q));
    ASSERT_EQ_U64(q.hint_len, hl);
    ASSERT_MEM_EQ(q.hint, hint, hl);
    brain_view_release(b, &view);
    /* a header without one says "" */
    unsigned char *w = t_xmalloc((size_t)ptotal);
    ASSERT_OK(brain_pickle_write_header_hint(w, (size_t)ptotal, 40, 2, lens, NULL, 0));
    ASSERT_OK(brain_pickle_parse(w, (size_t)ptotal, &q));
    ASSERT_EQ_U64(q.hint_len, 0);
    ASSERT_STR_EQ(q.hint, "");
    free(w);

    /* bad hints are refused when written */
    char longhint[BRAIN_PICKLE_HINT_MAX + 2];
    memset(longhint, 'h', sizeof longhint);
    ASSERT_ERR(brain_pickle_layout_hint(40, 2, lens, BRAIN_PICKLE_HINT_MAX + 1, offsets, &total),
               BRAIN_EINVAL);
    ASSERT_STR_CONTAINS(brain_errdetail(), "the limit is 256");
    ASSERT_ERR(brain_pickle_write_header_hint(v, (size_t)total, 40, 2, lens, longhint,
                                              BRAIN_PICKLE_HINT_MAX + 1),
               BRAIN_EINVAL);
    ASSERT_ERR(brain_pickle_write_header_hint(v, (size_t)total, 40, 2, lens, "a\xff", 2),
               BRAIN_EINVAL);
    ASSERT_STR_CONTAINS(brain_errdetail(), "not UTF-8");
    ASSERT_ERR(brain_pickle_write_header_hint(v, (size_t)total, 40, 2, lens, "a\0b", 3),
               BRAIN_EINVAL);
    ASSERT_ERR(brain_pickle_write_header_hint(v, (size_t)total, 40, 2, lens, NULL, 3),
               BRAIN_EINVAL);
    ASSERT_OK(brain_pickle_parse(v, (size_t)total, &p)); /* v unchanged */

    /* damaged hints are refused when read, and by put */
    uint64_t at = 32 + 16 * 2;
    uint32_t saved;
    memcpy(&saved, v + at, 4);
    uint32_t bad[] = {0, BRAIN_PICKLE_HINT_MAX + 1, 0xffffffffu, (uint32_t)hl + 64};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memcpy(v + at, &bad[i], 4);
        ASSERT_ERR(brain_pickle_parse(v, (size_t)total, &p), BRAIN_ETYPE);
        ASSERT_ERR(brain_put(b, NULL, "bad", v, (size_t)total, &o, NULL), BRAIN_ETYPE);
    }
    memcpy(v + at, &saved, 4);
    v[at + 8] = 0xff; /* not UTF-8 */
    ASSERT_ERR(brain_pickle_parse(v, (size_t)total, &p), BRAIN_ETYPE);
    ASSERT_STR_CONTAINS(brain_errdetail(), "hint is malformed");
    v[at + 8] = 0; /* a NUL */
    ASSERT_ERR(brain_pickle_parse(v, (size_t)total, &p), BRAIN_ETYPE);
    v[at + 8] = 'D';
    ASSERT_OK(brain_pickle_parse(v, (size_t)total, &p));
    ASSERT_ERR(brain_pickle_parse(v, (size_t)at + 4, &p), BRAIN_ETYPE); /* cut short */
    ASSERT_EQ_INT(t_stats(b).names, 1);
    free(v);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(parse_size_accepts)
{
    struct {
        const char *text;
        uint64_t want;
    } ok[] = {
        {"0", 0},
        {"1048576", 1048576},
        {"50MB", 50000000},
        {"50mb", 50000000},
        {"50 MB", 50000000},
        {"1.5GB", 1500000000},
        {"10kB", 10000},
        {"10KB", 10000},
        {"2TB", 2000000000000ull},
        {"2GiB", 2ull << 30},
        {"2gib", 2ull << 30},
        {"512MiB", 512ull << 20},
        {"4KiB", 4096},
        {"1.5GiB", 3ull << 29},
        {"1 KiB", 1024},
        {"18446744073709551615", UINT64_MAX},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        uint64_t out = 12345;
        int rc = brain_parse_size(ok[i].text, &out);
        ASSERT_MSG(rc == 0, "\"%s\": %s", ok[i].text, brain_errname(rc));
        ASSERT_MSG(out == ok[i].want, "\"%s\" = %" PRIu64 ", expected %" PRIu64,
                   ok[i].text, out, ok[i].want);
    }
}

TEST(parse_size_refuses)
{
    const char *bad[] = {"",       " ",      "abc",   "-5",     "-1MB",
                         "5XB",    "MB",     "1..5GB", "1e3",   "10 M B",
                         "18446744073709551616", "99999999999999999999999",
                         "20000000TB", "17179869184GiB", "0x10", "5MB extra"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        uint64_t out = 777;
        int rc = brain_parse_size(bad[i], &out);
        ASSERT_MSG(rc == BRAIN_EINVAL, "\"%s\": %s (%" PRIu64 ")", bad[i],
                   brain_errname(rc), out);
        t_check_detail(__FILE__, __LINE__, bad[i], t_detail_copy());
    }
    uint64_t out;
    ASSERT_ERR(brain_parse_size(NULL, &out), BRAIN_EINVAL);
    ASSERT_ERR(brain_parse_size("5", NULL), BRAIN_EINVAL);
}

TEST(format_size)
{
    char buf[32];
    ASSERT_STR_EQ(brain_format_size(212000000, 0, buf, sizeof buf),
                  "212.0 MB");
    ASSERT(brain_format_size(1, 0, buf, sizeof buf) == buf);
    ASSERT_STR_EQ(brain_format_size(3ull << 29, 1, buf, sizeof buf),
                  "1.5 GiB");
    ASSERT_STR_EQ(brain_format_size(1500000000, 0, buf, sizeof buf),
                  "1.5 GB");
    ASSERT_STR_EQ(brain_format_size(256ull << 20, 1, buf, sizeof buf),
                  "256.0 MiB");
    /* round trip within the rounding of one decimal */
    uint64_t xs[] = {1000, 123456, 98765432, 5ull << 30, 7000000000000ull};
    for (size_t i = 0; i < sizeof xs / sizeof *xs; i++)
        for (int bin = 0; bin < 2; bin++) {
            uint64_t back = 0;
            const char *s = brain_format_size(xs[i], bin, buf, sizeof buf);
            ASSERT_OK(brain_parse_size(s, &back));
            double err = ((double)back - (double)xs[i]) / (double)xs[i];
            ASSERT_MSG(err < 0.06 && err > -0.06, "%" PRIu64 " -> %s -> %"
                       PRIu64, xs[i], s, back);
        }
    /* never overruns the buffer */
    char small[4] = {'x', 'x', 'x', 'x'};
    const char *r = brain_format_size(212000000, 0, small, 3);
    (void)r;
    ASSERT_EQ_INT(small[3], 'x');
    ASSERT_NOT_NULL(brain_format_size(UINT64_MAX, 1, buf, sizeof buf));
    ASSERT_NOT_NULL(brain_format_size(0, 0, buf, sizeof buf));
}

TEST(version_macros)
{
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", BRAIN_VERSION_MAJOR,
             BRAIN_VERSION_MINOR, BRAIN_VERSION_PATCH);
    ASSERT_STR_EQ(want, BRAIN_VERSION_STRING);
}
