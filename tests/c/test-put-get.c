/* test-put-get.c - brain_put, brain_get, brain_read, brain_meta,
 * brain_exists, brain_delete, brain_view_release, brain_version, versions
 * and compare-and-set. */
#include "test.h"

#include <signal.h>
#include <sys/wait.h>

#define STRBUF (BRAIN_NS_MAX + BRAIN_NAME_MAX + BRAIN_DESC_MAX + 3)

static int is_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

TEST(put_get_roundtrip_sizes)
{
    brain *b = t_create(0, 64 << 20);
    size_t sizes[] = {0, 1, 2, 31, 32, 63, 64, 65, 127, 4095, 4096, 4097,
                      65536, 1 << 20, (3 << 20) + 7};
    unsigned char *buf = t_xmalloc((4 << 20));
    unsigned char *out = t_xmalloc((4 << 20));
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        char name[32];
        snprintf(name, sizeof name, "v%zu", sizes[i]);
        for (size_t j = 0; j < sizes[i]; j++)
            buf[j] = (unsigned char)(j * 31 + i);
        uint64_t v = 0;
        ASSERT_OK(brain_put(b, NULL, name, buf, sizes[i], NULL, &v));
        ASSERT_GT_U64(v, 0);

        brain_view view;
        memset(&view, 0, sizeof view);
        ASSERT_OK(brain_get(b, NULL, name, &view));
        ASSERT_EQ_U64(view.size, sizes[i]);
        ASSERT_EQ_U64(view.info.size, sizes[i]);
        ASSERT_EQ_U64(view.info.version, v);
        ASSERT_EQ_INT(view.info.type, BRAIN_TYPE_BYTES);
        ASSERT_NOT_NULL(view.data);
        ASSERT_EQ_INT((uintptr_t)view.data % BRAIN_ALIGN, 0);
        ASSERT_MEM_EQ(view.data, buf, sizes[i]);
        brain_view_release(b, &view);

        size_t n = 12345;
        ASSERT_OK(brain_read(b, NULL, name, out, 4 << 20, &n, NULL));
        ASSERT_EQ_U64(n, sizes[i]);
        ASSERT_MEM_EQ(out, buf, sizes[i]);
    }
    /* every value still intact after all the others were stored */
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        char name[32];
        snprintf(name, sizeof name, "v%zu", sizes[i]);
        for (size_t j = 0; j < sizes[i]; j++)
            buf[j] = (unsigned char)(j * 31 + i);
        size_t n;
        ASSERT_OK(brain_read(b, NULL, name, out, 4 << 20, &n, NULL));
        ASSERT_EQ_U64(n, sizes[i]);
        ASSERT_MEM_EQ(out, buf, sizes[i]);
    }
    ASSERT_EQ_U64(t_stats(b).names, sizeof sizes / sizeof *sizes);
    free(buf);
    free(out);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(info_fields)
{
    brain *b = t_create(0, 0);
    int64_t before = t_real_ns();
    brain_put_opts o = {.type = BRAIN_TYPE_STR, .desc = "a description"};
    uint64_t v1 = 0, v2 = 0;
    ASSERT_OK(brain_put(b, "space", "the name", "text", 4, &o, &v1));
    int64_t after = t_real_ns();

    brain_view view = {0};
    ASSERT_OK(brain_get(b, "space", "the name", &view));
    brain_info *in = &view.info;
    ASSERT_EQ_INT(in->type, BRAIN_TYPE_STR);
    ASSERT_EQ_INT(in->flags, 0);
    ASSERT_EQ_U64(in->size, 4);
    ASSERT_EQ_U64(in->version, v1);
    ASSERT_GE(in->updated_ns, before - 1000000);
    ASSERT_LE(in->updated_ns, after + 1000000);
    ASSERT_EQ_INT(in->created_ns, in->updated_ns);
    ASSERT_EQ_INT(in->expires_ns, 0);
    ASSERT(!is_zero(in->object_id, BRAIN_OBJECT_ID_SIZE));
    ASSERT_STR_EQ(in->ns, "space");
    ASSERT_STR_EQ(in->name, "the name");
    ASSERT_STR_EQ(in->desc, "a description");
    ASSERT_EQ_INT(in->ns_len, 5);
    ASSERT_EQ_INT(in->name_len, 8);
    ASSERT_EQ_INT(in->desc_len, 13);
    uint8_t oid1[BRAIN_OBJECT_ID_SIZE];
    memcpy(oid1, in->object_id, sizeof oid1);
    int64_t created = in->created_ns;

    t_sleep_ms(2);
    /* replace: new version, new object id, same creation time, old view
     * unchanged */
    ASSERT_OK(brain_put(b, "space", "the name", "other", 5, NULL, &v2));
    ASSERT_GT_U64(v2, v1);
    ASSERT_MEM_EQ(view.data, "text", 4);
    ASSERT_STR_EQ(view.info.name, "the name");
    brain_view_release(b, &view);

    char sb[STRBUF];
    brain_info m;
    ASSERT_OK(brain_meta(b, "space", "the name", &m, sb, sizeof sb));
    ASSERT_EQ_U64(m.version, v2);
    ASSERT_EQ_U64(m.size, 5);
    ASSERT_EQ_INT(m.type, BRAIN_TYPE_BYTES);
    ASSERT_EQ_INT(m.created_ns, created);
    ASSERT_GT(m.updated_ns, created);
    ASSERT(memcmp(m.object_id, oid1, sizeof oid1) != 0);
    ASSERT(!is_zero(m.object_id, BRAIN_OBJECT_ID_SIZE));
    ASSERT_STR_EQ(m.ns, "space");
    ASSERT_STR_EQ(m.name, "the name");
    ASSERT_STR_EQ(m.desc, ""); /* the new value has no description */
    ASSERT(m.ns >= sb && m.ns < sb + sizeof sb);
    ASSERT(m.name >= sb && m.name < sb + sizeof sb);

    /* default namespace is called "default" */
    ASSERT_OK(brain_put(b, NULL, "d", "1", 1, NULL, NULL));
    ASSERT_OK(brain_meta(b, "default", "d", &m, sb, sizeof sb));
    ASSERT_STR_EQ(m.ns, "default");
    ASSERT_EQ_INT(brain_exists(b, "default", "d"), 1);
    t_destroy(b, 0);
}

TEST(object_ids_unique)
{
    brain *b = t_create(0, 0);
    enum { N = 200 };
    static uint8_t ids[N][BRAIN_OBJECT_ID_SIZE];
    for (int i = 0; i < N; i++) {
        brain_info m;
        ASSERT_OK(brain_put(b, NULL, i % 2 ? "same" : "other", &i, sizeof i,
                            NULL, NULL));
        ASSERT_OK(brain_meta(b, NULL, i % 2 ? "same" : "other", &m, NULL, 0));
        ASSERT_NULL(m.name);
        ASSERT_NULL(m.ns);
        memcpy(ids[i], m.object_id, BRAIN_OBJECT_ID_SIZE);
        for (int j = 0; j < i; j++)
            ASSERT_MSG(memcmp(ids[i], ids[j], BRAIN_OBJECT_ID_SIZE) != 0,
                       "object id of put %d equals that of put %d", i, j);
    }
    t_destroy(b, 0);
}

TEST(read_small_buffer_erange)
{
    brain *b = t_create(0, 0);
    char data[100];
    for (int i = 0; i < 100; i++)
        data[i] = (char)i;
    ASSERT_OK(brain_put(b, NULL, "k", data, sizeof data, NULL, NULL));
    char buf[100];
    memset(buf, 0x5a, sizeof buf);
    size_t n = 0;
    brain_info in;
    ASSERT_ERR(brain_read(b, NULL, "k", buf, 99, &n, &in), BRAIN_ERANGE);
    ASSERT_EQ_U64(n, 100);
    for (int i = 0; i < 100; i++)
        ASSERT_EQ_INT((unsigned char)buf[i], 0x5a); /* nothing copied */
    ASSERT_ERR(brain_read(b, NULL, "k", NULL, 0, &n, NULL), BRAIN_ERANGE);
    ASSERT_EQ_U64(n, 100);
    ASSERT_OK(brain_read(b, NULL, "k", buf, 100, &n, &in));
    ASSERT_MEM_EQ(buf, data, 100);
    ASSERT_EQ_U64(in.size, 100);
    ASSERT_NULL(in.ns);
    ASSERT_NULL(in.name);
    ASSERT_NULL(in.desc);
    /* an empty value reads into no buffer */
    ASSERT_OK(brain_put(b, NULL, "empty", NULL, 0, NULL, NULL));
    n = 7;
    ASSERT_OK(brain_read(b, NULL, "empty", NULL, 0, &n, NULL));
    ASSERT_EQ_U64(n, 0);
    brain_view view = {0};
    ASSERT_OK(brain_get(b, NULL, "empty", &view));
    ASSERT_EQ_U64(view.size, 0);
    brain_view_release(b, &view);
    t_destroy(b, 0);
}

TEST(meta_strbuf_sizes)
{
    brain *b = t_create(0, 0);
    brain_put_opts o = {.desc = "desc"};
    ASSERT_OK(brain_put(b, "ns", "name", "v", 1, &o, NULL));
    brain_info m;
    /* "ns\0name\0desc\0" = 13 bytes */
    char sb[13];
    ASSERT_OK(brain_meta(b, "ns", "name", &m, sb, sizeof sb));
    ASSERT_STR_EQ(m.ns, "ns");
    ASSERT_STR_EQ(m.name, "name");
    ASSERT_STR_EQ(m.desc, "desc");
    ASSERT_ERR(brain_meta(b, "ns", "name", &m, sb, 5), BRAIN_ERANGE);
    ASSERT_ERR(brain_meta(b, "ns", "name", NULL, NULL, 0), BRAIN_EINVAL);
    ASSERT_ERR(brain_meta(b, "ns", "nope", &m, sb, sizeof sb),
               BRAIN_ENOTFOUND);
    /* the largest strings fit in the documented size */
    static char big_ns[BRAIN_NS_MAX + 1], big_name[BRAIN_NAME_MAX + 1],
        big_desc[BRAIN_DESC_MAX + 1];
    memset(big_ns, 'n', BRAIN_NS_MAX);
    memset(big_name, 'm', BRAIN_NAME_MAX);
    memset(big_desc, 'd', BRAIN_DESC_MAX);
    o.desc = big_desc;
    ASSERT_OK(brain_put(b, big_ns, big_name, "v", 1, &o, NULL));
    static char full[STRBUF];
    ASSERT_OK(brain_meta(b, big_ns, big_name, &m, full, sizeof full));
    ASSERT_STR_EQ(m.ns, big_ns);
    ASSERT_STR_EQ(m.name, big_name);
    ASSERT_STR_EQ(m.desc, big_desc);
    ASSERT_EQ_INT(m.desc_len, BRAIN_DESC_MAX);
    t_destroy(b, 0);
}

TEST(exists_and_delete)
{
    brain *b = t_create(0, 0);
    ASSERT_EQ_INT(brain_exists(b, NULL, "k"), 0);
    ASSERT_ERR(brain_delete(b, NULL, "k"), BRAIN_ENOTFOUND);
    uint64_t v = 0, ver = 0;
    ASSERT_OK(brain_put(b, NULL, "k", "abc", 3, NULL, &v));
    ASSERT_EQ_INT(brain_exists(b, NULL, "k"), 1);
    ASSERT_EQ_INT(brain_exists(b, "other", "k"), 0);
    brain_view view = {0};
    ASSERT_OK(brain_get(b, NULL, "k", &view));
    ASSERT_OK(brain_delete(b, NULL, "k"));
    ASSERT_OK(brain_version(b, &ver));
    ASSERT_GT_U64(ver, v); /* a delete is a change */
    ASSERT_EQ_INT(brain_exists(b, NULL, "k"), 0);
    ASSERT_ERR(brain_delete(b, NULL, "k"), BRAIN_ENOTFOUND);
    brain_view v2 = {0};
    ASSERT_ERR(brain_get(b, NULL, "k", &v2), BRAIN_ENOTFOUND);
    char buf[8];
    size_t n;
    ASSERT_ERR(brain_read(b, NULL, "k", buf, sizeof buf, &n, NULL),
               BRAIN_ENOTFOUND);
    brain_info m;
    ASSERT_ERR(brain_meta(b, NULL, "k", &m, NULL, 0), BRAIN_ENOTFOUND);
    /* the view of the deleted value stays valid */
    ASSERT_MEM_EQ(view.data, "abc", 3);
    ASSERT_EQ_U64(t_stats(b).pins, 1);
    brain_view_release(b, &view);
    ASSERT_EQ_U64(t_stats(b).pins, 0);
    /* release twice, and a zeroed view: no-ops */
    brain_view_release(b, &view);
    memset(&v2, 0, sizeof v2);
    brain_view_release(b, &v2);
    ASSERT_EQ_U64(t_stats(b).names, 0);
    /* the name can be stored again; created_ns is new */
    ASSERT_OK(brain_put(b, NULL, "k", "x", 1, NULL, NULL));
    ASSERT_EQ_INT(brain_exists(b, NULL, "k"), 1);
    t_destroy(b, 0);
}

TEST(version_counter_monotonic)
{
    brain *b = t_create(0, 0);
    uint64_t v0 = 0, last = 0;
    ASSERT_OK(brain_version(b, &v0));
    last = v0;
    for (int i = 0; i < 100; i++) {
        uint64_t v = 0, sv = 0;
        char name[32];
        snprintf(name, sizeof name, "n%d", i % 7);
        ASSERT_OK(brain_put(b, i % 3 ? NULL : "x", name, &i, sizeof i, NULL,
                            &v));
        ASSERT_GT_U64(v, last);
        ASSERT_OK(brain_version(b, &sv));
        ASSERT_EQ_U64(sv, v);
        last = v;
    }
    /* a failed put changes nothing, not even the version */
    brain_put_opts o = {.flags = BRAIN_PUT_IF_VERSION, .if_version = 1};
    ASSERT_ERR(brain_put(b, NULL, "n1", "z", 1, &o, NULL), BRAIN_ECONFLICT);
    uint64_t sv = 0;
    ASSERT_OK(brain_version(b, &sv));
    ASSERT_EQ_U64(sv, last);
    ASSERT_EQ_U64(t_stats(b).version, last);
    ASSERT_ERR(brain_version(b, NULL), BRAIN_EINVAL);
    t_destroy(b, 0);
}

TEST(put_if_version_compare_and_set)
{
    brain *b = t_create(0, 0);
    brain_put_opts o = {.flags = BRAIN_PUT_IF_VERSION, .if_version = 0};
    uint64_t v1 = 0, v2 = 0;
    /* 0 = only when absent */
    ASSERT_OK(brain_put(b, NULL, "c", "one", 3, &o, &v1));
    ASSERT_ERR(brain_put(b, NULL, "c", "two", 3, &o, NULL), BRAIN_ECONFLICT);
    o.if_version = v1 + 1000;
    ASSERT_ERR(brain_put(b, NULL, "c", "two", 3, &o, NULL), BRAIN_ECONFLICT);
    char buf[8];
    size_t n;
    ASSERT_OK(brain_read(b, NULL, "c", buf, sizeof buf, &n, NULL));
    ASSERT_MEM_EQ(buf, "one", 3);
    o.if_version = v1;
    ASSERT_OK(brain_put(b, NULL, "c", "two", 3, &o, &v2));
    ASSERT_GT_U64(v2, v1);
    /* the old version no longer matches */
    ASSERT_ERR(brain_put(b, NULL, "c", "three", 5, &o, NULL), BRAIN_ECONFLICT);
    ASSERT_OK(brain_read(b, NULL, "c", buf, sizeof buf, &n, NULL));
    ASSERT_MEM_EQ(buf, "two", 3);
    /* after a delete, 0 matches again */
    ASSERT_OK(brain_delete(b, NULL, "c"));
    o.if_version = v2;
    ASSERT_ERR(brain_put(b, NULL, "c", "four", 4, &o, NULL), BRAIN_ECONFLICT);
    ASSERT_EQ_INT(brain_exists(b, NULL, "c"), 0);
    o.if_version = 0;
    ASSERT_OK(brain_put(b, NULL, "c", "four", 4, &o, NULL));
    /* without the flag, if_version is ignored */
    brain_put_opts plain = {.if_version = 12345};
    ASSERT_OK(brain_put(b, NULL, "c", "five", 4, &plain, NULL));
    t_destroy(b, 0);
}

TEST(cas_counter_processes)
{
    /* Processes increment a counter with compare-and-set: no increment is
     * lost. */
    brain *b = t_create(0, 0);
    uint64_t zero = 0;
    ASSERT_OK(brain_put(b, NULL, "counter", &zero, 8, NULL, NULL));
    enum { P = 3 };
    int per = T_SCALE(300, 3);
    pid_t kids[P];
    for (int p = 0; p < P; p++) {
        kids[p] = t_fork();
        if (kids[p] == 0) {
            for (int i = 0; i < per;) {
                uint64_t val = 0;
                size_t n;
                brain_info in;
                ASSERT_OK(brain_read(b, NULL, "counter", &val, 8, &n, &in));
                val++;
                brain_put_opts o = {.flags = BRAIN_PUT_IF_VERSION,
                                    .if_version = in.version};
                int rc = brain_put(b, NULL, "counter", &val, 8, &o, NULL);
                if (rc == 0)
                    i++;
                else
                    ASSERT_EQ_INT(rc, BRAIN_ECONFLICT);
            }
            t_child_exit(0);
        }
    }
    for (int p = 0; p < P; p++)
        t_wait_ok(kids[p]);
    uint64_t val = 0;
    size_t n;
    ASSERT_OK(brain_read(b, NULL, "counter", &val, 8, &n, NULL));
    ASSERT_EQ_U64(val, (uint64_t)P * per);
    t_destroy(b, 0);
}

TEST(put_bad_arguments_change_nothing)
{
    brain *b = t_create(0, 0);
    ASSERT_OK(brain_put(b, NULL, "keep", "kept", 4, NULL, NULL));
    uint64_t v0 = 0;
    ASSERT_OK(brain_version(b, &v0));
    brain_stats s0 = t_stats(b);

    ASSERT_ERR(brain_put(NULL, NULL, "x", "v", 1, NULL, NULL), BRAIN_EINVAL);
    ASSERT_ERR(brain_put(b, NULL, "x", NULL, 5, NULL, NULL), BRAIN_EINVAL);
    ASSERT_ERR(brain_put(b, NULL, "keep", NULL, 5, NULL, NULL), BRAIN_EINVAL);
    brain_put_opts o = {.flags = 1u << 5};
    ASSERT_ERR(brain_put(b, NULL, "x", "v", 1, &o, NULL), BRAIN_EINVAL);
    o.flags = 0xffffffffu;
    ASSERT_ERR(brain_put(b, NULL, "keep", "v", 1, &o, NULL), BRAIN_EINVAL);
    ASSERT_ERR2(brain_put(b, NULL, NULL, "v", 1, NULL, NULL), BRAIN_ENAME,
                BRAIN_EINVAL);
    /* descriptions */
    char *desc = t_xmalloc(BRAIN_DESC_MAX + 2);
    memset(desc, 'd', BRAIN_DESC_MAX + 1);
    desc[BRAIN_DESC_MAX + 1] = 0;
    o = (brain_put_opts){.desc = desc};
    ASSERT_ERR(brain_put(b, NULL, "keep", "v", 1, &o, NULL), BRAIN_EINVAL);
    o.desc = "bad \xff utf-8";
    ASSERT_ERR(brain_put(b, NULL, "keep", "v", 1, &o, NULL), BRAIN_EINVAL);
    desc[BRAIN_DESC_MAX] = 0;
    o.desc = desc; /* exactly the limit: fine */
    ASSERT_OK(brain_put(b, NULL, "desc-max", "v", 1, &o, NULL));
    ASSERT_OK(brain_delete(b, NULL, "desc-max"));
    free(desc);
    /* typed values with bad contents */
    o = (brain_put_opts){.type = BRAIN_TYPE_STR};
    ASSERT_ERR(brain_put(b, NULL, "keep", "bad\xc3", 4, &o, NULL), BRAIN_ETYPE);
    ASSERT_ERR(brain_put(b, NULL, "keep", "\xed\xa0\x80", 3, &o, NULL),
               BRAIN_ETYPE);
    o.type = BRAIN_TYPE_JSON;
    ASSERT_ERR(brain_put(b, NULL, "keep", "{\"a\":\"\xff\"}", 9, &o, NULL),
               BRAIN_ETYPE);
    o.type = BRAIN_TYPE_ARRAY;
    ASSERT_ERR(brain_put(b, NULL, "keep", "not an array", 12, &o, NULL),
               BRAIN_ETYPE);
    o.type = BRAIN_TYPE_PICKLE;
    ASSERT_ERR(brain_put(b, NULL, "keep", "not a pickle", 12, &o, NULL),
               BRAIN_ETYPE);

    /* nothing changed */
    char buf[8];
    size_t n;
    ASSERT_OK(brain_read(b, NULL, "keep", buf, sizeof buf, &n, NULL));
    ASSERT_EQ_U64(n, 4);
    ASSERT_MEM_EQ(buf, "kept", 4);
    ASSERT_EQ_INT(brain_exists(b, NULL, "x"), 0);
    brain_stats s1 = t_stats(b);
    ASSERT_EQ_U64(s1.names, s0.names);
    ASSERT_EQ_U64(s1.used, s0.used);
    t_destroy(b, 0);
}

TEST(valid_typed_values)
{
    brain *b = t_create(0, 0);
    brain_put_opts o = {.type = BRAIN_TYPE_STR};
    const char *s = "caf\xc3\xa9 \xf0\x9f\x98\x80 ok";
    ASSERT_OK(brain_put(b, NULL, "str", s, strlen(s), &o, NULL));
    o.type = BRAIN_TYPE_JSON;
    ASSERT_OK(brain_put(b, NULL, "json", "{\"a\": [1, 2]}", 13, &o, NULL));
    o.type = BRAIN_TYPE_USER + 7;
    ASSERT_OK(brain_put(b, NULL, "user", "\x00\xff\xfe", 3, &o, NULL));
    o.type = BRAIN_TYPE_STR;
    ASSERT_OK(brain_put(b, NULL, "empty-str", "", 0, &o, NULL));
    brain_info m;
    ASSERT_OK(brain_meta(b, NULL, "str", &m, NULL, 0));
    ASSERT_EQ_INT(m.type, BRAIN_TYPE_STR);
    ASSERT_OK(brain_meta(b, NULL, "json", &m, NULL, 0));
    ASSERT_EQ_INT(m.type, BRAIN_TYPE_JSON);
    ASSERT_OK(brain_meta(b, NULL, "user", &m, NULL, 0));
    ASSERT_EQ_INT(m.type, BRAIN_TYPE_USER + 7);
    ASSERT_STR_EQ(brain_type_name(BRAIN_TYPE_BYTES), "bytes");
    ASSERT_STR_EQ(brain_type_name(BRAIN_TYPE_STR), "str");
    ASSERT_STR_EQ(brain_type_name(BRAIN_TYPE_ARRAY), "ndarray");
    ASSERT_STR_EQ(brain_type_name(BRAIN_TYPE_PICKLE), "pickle");
    ASSERT_STR_EQ(brain_type_name(BRAIN_TYPE_JSON), "json");
    ASSERT_STR_EQ(brain_type_name(BRAIN_TYPE_USER), "user");
    ASSERT_STR_EQ(brain_type_name(BRAIN_TYPE_USER + 99), "user");
    ASSERT_NOT_NULL(brain_type_name(77));
    ASSERT_NOT_NULL(brain_type_name(UINT32_MAX));
    t_destroy(b, 0);
}

TEST(view_is_read_only)
{
    brain *b = t_create(0, 0);
    ASSERT_OK(brain_put(b, NULL, "ro", "read only", 9, NULL, NULL));
    brain_view view = {0};
    ASSERT_OK(brain_get(b, NULL, "ro", &view));
    pid_t pid = t_fork();
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL);
        signal(SIGBUS, SIG_DFL);
        volatile char *p = (volatile char *)view.data;
        p[0] = 'X'; /* must fault */
        t_child_exit(0);
    }
    int st = t_wait_status(pid);
    ASSERT_MSG(WIFSIGNALED(st) && (WTERMSIG(st) == SIGSEGV ||
                                   WTERMSIG(st) == SIGBUS),
               "writing through a view did not fault (status %#x)", st);
    ASSERT_MEM_EQ(view.data, "read only", 9);
    brain_view_release(b, &view);
    t_destroy(b, 0);
}

TEST(get_bad_arguments)
{
    brain *b = t_create(0, 0);
    ASSERT_OK(brain_put(b, NULL, "k", "v", 1, NULL, NULL));
    brain_view view = {0};
    ASSERT_ERR(brain_get(NULL, NULL, "k", &view), BRAIN_EINVAL);
    ASSERT_ERR(brain_get(b, NULL, "k", NULL), BRAIN_EINVAL);
    ASSERT_ERR2(brain_get(b, NULL, NULL, &view), BRAIN_ENAME, BRAIN_EINVAL);
    ASSERT_ERR(brain_get(b, NULL, "", &view), BRAIN_ENAME);
    ASSERT_ERR(brain_get(b, "", "k", &view), BRAIN_ENAMESPACE);
    char buf[4];
    size_t n;
    ASSERT_ERR(brain_read(NULL, NULL, "k", buf, 4, &n, NULL), BRAIN_EINVAL);
    ASSERT_ERR(brain_read(b, NULL, "k", buf, 4, NULL, NULL), BRAIN_EINVAL);
    ASSERT_ERR(brain_read(b, NULL, "k", NULL, 4, &n, NULL), BRAIN_EINVAL);
    ASSERT_ERR(brain_exists(NULL, NULL, "k"), BRAIN_EINVAL);
    ASSERT_ERR(brain_exists(b, NULL, ""), BRAIN_ENAME);
    ASSERT_ERR(brain_delete(NULL, NULL, "k"), BRAIN_EINVAL);
    ASSERT_ERR(brain_delete(b, NULL, ""), BRAIN_ENAME);
    ASSERT_ERR(brain_meta(NULL, NULL, "k", NULL, NULL, 0), BRAIN_EINVAL);
    ASSERT_ERR(brain_stats_get(b, NULL), BRAIN_EINVAL);
    brain_stats st;
    ASSERT_ERR(brain_stats_get(NULL, &st), BRAIN_EINVAL);
    brain_view_release(b, NULL);   /* no-op */
    brain_view_release(NULL, &view); /* no-op on a zeroed view */
    ASSERT_EQ_INT(brain_exists(b, NULL, "k"), 1);
    t_destroy(b, 0);
}

TEST(pins_limit_epins)
{
    brain *b = t_create(0, 64 << 20);
    int n = BRAIN_PINS_PER_PROC;
    brain_view *views = calloc((size_t)n + 1, sizeof *views);
    for (int i = 0; i <= n; i++) {
        char name[32];
        snprintf(name, sizeof name, "p%d", i);
        ASSERT_OK(brain_put(b, NULL, name, &i, sizeof i, NULL, NULL));
    }
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "p%d", i);
        ASSERT_OK(brain_get(b, NULL, name, &views[i]));
    }
    ASSERT_EQ_U64(t_stats(b).pins, (uint64_t)n);
    ASSERT_ERR(brain_get(b, NULL, "p880", &views[n]), BRAIN_EPINS);
    /* brain_read still works without a pin */
    int val = -1;
    size_t sz;
    ASSERT_OK(brain_read(b, NULL, "p880", &val, sizeof val, &sz, NULL));
    ASSERT_EQ_INT(val, n);
    /* a second view of an already pinned value needs no new pin */
    brain_view again = {0};
    ASSERT_OK(brain_get(b, NULL, "p5", &again));
    ASSERT_EQ_INT(*(const int *)again.data, 5);
    brain_view_release(b, &again);
    brain_view_release(b, &views[7]);
    ASSERT_OK(brain_get(b, NULL, "p880", &views[n]));
    ASSERT_EQ_INT(*(const int *)views[n].data, n);
    for (int i = 0; i <= n; i++) {
        if (i != 7)
            ASSERT_EQ_INT(*(const int *)views[i].data, i);
        brain_view_release(b, &views[i]);
    }
    ASSERT_EQ_U64(t_stats(b).pins, 0);
    free(views);
    t_destroy(b, 0);
}

TEST(many_views_same_value)
{
    brain *b = t_create(0, 0);
    ASSERT_OK(brain_put(b, NULL, "hot", "hot value", 9, NULL, NULL));
    int n = BRAIN_PINS_PER_PROC * 2;
    brain_view *views = calloc((size_t)n, sizeof *views);
    for (int i = 0; i < n; i++)
        ASSERT_OK(brain_get(b, NULL, "hot", &views[i]));
    ASSERT_OK(brain_delete(b, NULL, "hot"));
    for (int i = 0; i < n; i++) {
        ASSERT_MEM_EQ(views[i].data, "hot value", 9);
        brain_view_release(b, &views[i]);
    }
    ASSERT_EQ_U64(t_stats(b).pins, 0);
    free(views);
    t_destroy(b, 0);
}
