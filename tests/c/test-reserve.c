/* test-reserve.c - brain_reserve, brain_publish, brain_abort. */
#include "test.h"

#include <signal.h>
#include <sys/wait.h>

TEST(reserve_publish_visible_only_after)
{
    brain *b = t_create(0, 64 << 20);
    uint64_t used0 = t_used(b);
    brain_reservation *res = NULL;
    void *data = NULL;
    size_t size = 3 << 20;
    ASSERT_OK(brain_reserve(b, "ns", "big", size, NULL, &res, &data));
    ASSERT_NOT_NULL(res);
    ASSERT_NOT_NULL(data);
    ASSERT_EQ_INT((uintptr_t)data % BRAIN_ALIGN, 0);
    t_vfill(data, size, 42);
    /* invisible until published */
    ASSERT_EQ_INT(brain_exists(b, "ns", "big"), 0);
    brain_view view = {0};
    ASSERT_ERR(brain_get(b, "ns", "big", &view), BRAIN_ENOTFOUND);
    brain *other = t_open(0);
    ASSERT_EQ_INT(brain_exists(other, "ns", "big"), 0);
    brain_list *l = NULL;
    ASSERT_OK(brain_list_names(other, "ns", BRAIN_LIST_ONE_NS, &l));
    ASSERT_EQ_U64(l->count, 0);
    brain_list_free(l);
    /* the space is taken meanwhile */
    ASSERT_GE_U64(t_used(b), used0 + size);

    uint64_t v = 0;
    ASSERT_OK(brain_publish(b, res, &v));
    ASSERT_GT_U64(v, 0);
    ASSERT_OK(brain_get(other, "ns", "big", &view));
    ASSERT_EQ_U64(view.size, size);
    ASSERT_EQ_U64(view.info.version, v);
    ASSERT_VALUE(view.data, view.size, 42);
    brain_view_release(other, &view);
    ASSERT_OK(brain_close(other));
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(reserve_abort_gives_space_back)
{
    brain *b = t_create(0, 16 << 20);
    ASSERT_OK(brain_put(b, NULL, "keep", "k", 1, NULL, NULL));
    uint64_t used0 = t_used(b);
    for (int i = 0; i < 50; i++) {
        brain_reservation *res = NULL;
        void *data = NULL;
        ASSERT_OK(brain_reserve(b, NULL, "keep", 10 << 20, NULL, &res, &data));
        memset(data, 0xee, 4096);
        brain_abort(b, res);
        ASSERT_EQ_U64(t_used(b), used0);
    }
    char c;
    size_t n;
    ASSERT_OK(brain_read(b, NULL, "keep", &c, 1, &n, NULL));
    ASSERT_EQ_INT(c, 'k');
    ASSERT_EQ_U64(t_stats(b).names, 1);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(reserve_replaces_existing)
{
    brain *b = t_create(0, 0);
    uint64_t v1 = 0, v2 = 0;
    ASSERT_OK(brain_put(b, NULL, "k", "old", 3, NULL, &v1));
    brain_reservation *res = NULL;
    void *data = NULL;
    ASSERT_OK(brain_reserve(b, NULL, "k", 3, NULL, &res, &data));
    memcpy(data, "new", 3);
    char buf[4];
    size_t n;
    ASSERT_OK(brain_read(b, NULL, "k", buf, 4, &n, NULL));
    ASSERT_MEM_EQ(buf, "old", 3);
    ASSERT_OK(brain_publish(b, res, &v2));
    ASSERT_GT_U64(v2, v1);
    ASSERT_OK(brain_read(b, NULL, "k", buf, 4, &n, NULL));
    ASSERT_MEM_EQ(buf, "new", 3);
    /* a zero-sized reservation */
    ASSERT_OK(brain_reserve(b, NULL, "zero", 0, NULL, &res, &data));
    ASSERT_OK(brain_publish(b, res, NULL));
    ASSERT_OK(brain_read(b, NULL, "zero", buf, 4, &n, NULL));
    ASSERT_EQ_U64(n, 0);
    t_destroy(b, 0);
}

TEST(publish_if_version_checked_at_publish)
{
    brain *b = t_create(0, 0);
    brain_put_opts o = {.flags = BRAIN_PUT_IF_VERSION, .if_version = 0};
    brain_reservation *res = NULL;
    void *data = NULL;
    ASSERT_OK(brain_reserve(b, NULL, "k", 5, &o, &res, &data));
    memcpy(data, "mine!", 5);
    /* someone else stores the name meanwhile */
    uint64_t vo = 0;
    ASSERT_OK(brain_put(b, NULL, "k", "theirs", 6, NULL, &vo));
    uint64_t used_before = t_used(b);
    ASSERT_ERR(brain_publish(b, res, NULL), BRAIN_ECONFLICT);
    /* consumed anyway: the space came back, theirs is intact */
    ASSERT_LT_U64(t_used(b), used_before);
    char buf[8];
    size_t n;
    brain_info in;
    ASSERT_OK(brain_read(b, NULL, "k", buf, 8, &n, &in));
    ASSERT_EQ_U64(n, 6);
    ASSERT_MEM_EQ(buf, "theirs", 6);
    ASSERT_EQ_U64(in.version, vo);
    /* and a matching version publishes */
    o.if_version = vo;
    ASSERT_OK(brain_reserve(b, NULL, "k", 5, &o, &res, &data));
    memcpy(data, "mine!", 5);
    ASSERT_OK(brain_publish(b, res, NULL));
    ASSERT_OK(brain_read(b, NULL, "k", buf, 8, &n, NULL));
    ASSERT_MEM_EQ(buf, "mine!", 5);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(publish_checks_typed_layout)
{
    brain *b = t_create(0, 0);
    ASSERT_OK(brain_put(b, NULL, "s", "good", 4, NULL, NULL));
    uint64_t used0 = t_used(b);
    brain_put_opts o = {.type = BRAIN_TYPE_STR};
    brain_reservation *res = NULL;
    void *data = NULL;
    ASSERT_OK(brain_reserve(b, NULL, "s", 4, &o, &res, &data));
    memcpy(data, "b\xff\xfe", 4);
    ASSERT_ERR(brain_publish(b, res, NULL), BRAIN_ETYPE);
    ASSERT_EQ_U64(t_used(b), used0);
    char buf[8];
    size_t n;
    ASSERT_OK(brain_read(b, NULL, "s", buf, 8, &n, NULL));
    ASSERT_MEM_EQ(buf, "good", 4);
    o.type = BRAIN_TYPE_ARRAY;
    ASSERT_OK(brain_reserve(b, NULL, "a", 256, &o, &res, &data));
    memset(data, 0xff, 256);
    ASSERT_ERR(brain_publish(b, res, NULL), BRAIN_ETYPE);
    ASSERT_EQ_INT(brain_exists(b, NULL, "a"), 0);
    ASSERT_EQ_U64(t_used(b), used0);
    t_destroy(b, 0);
}

TEST(reserve_bad_arguments)
{
    brain *b = t_create(0, 4 << 20);
    brain_reservation *res = NULL;
    void *data = NULL;
    ASSERT_ERR(brain_reserve(NULL, NULL, "k", 1, NULL, &res, &data),
               BRAIN_EINVAL);
    ASSERT_ERR(brain_reserve(b, NULL, "k", 1, NULL, NULL, &data),
               BRAIN_EINVAL);
    ASSERT_ERR(brain_reserve(b, NULL, "k", 1, NULL, &res, NULL), BRAIN_EINVAL);
    ASSERT_ERR(brain_reserve(b, NULL, "", 1, NULL, &res, &data), BRAIN_ENAME);
    ASSERT_ERR(brain_reserve(b, "\x01", "k", 1, NULL, &res, &data),
               BRAIN_ENAMESPACE);
    brain_put_opts o = {.flags = 1u << 9};
    ASSERT_ERR(brain_reserve(b, NULL, "k", 1, &o, &res, &data), BRAIN_EINVAL);
    ASSERT_ERR(brain_reserve(b, NULL, "k", (size_t)5 << 20, NULL, &res, &data),
               BRAIN_ETOOBIG);
    ASSERT_ERR(brain_reserve(b, NULL, "k", SIZE_MAX, NULL, &res, &data),
               BRAIN_ETOOBIG);
    ASSERT_ERR(brain_reserve(b, NULL, "k", SIZE_MAX - 63, NULL, &res, &data),
               BRAIN_ETOOBIG);
    ASSERT_ERR(brain_publish(b, NULL, NULL), BRAIN_EINVAL);
    ASSERT_EQ_U64(t_stats(b).names, 0);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(close_aborts_reservations)
{
    brain *b = t_create(0, 16 << 20);
    uint64_t used0 = t_used(b);
    brain *b2 = t_open(0);
    brain_reservation *res[3];
    void *data;
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof name, "r%d", i);
        ASSERT_OK(brain_reserve(b2, NULL, name, 1 << 20, NULL, &res[i],
                                &data));
    }
    ASSERT_GE_U64(t_used(b), used0 + (3 << 20));
    ASSERT_OK(brain_close(b2));
    ASSERT_EQ_U64(t_used(b), used0);
    ASSERT_EQ_U64(t_stats(b).names, 0);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(reservation_not_inherited_by_fork)
{
    brain *b = t_create(0, 0);
    brain_reservation *res = NULL;
    void *data = NULL;
    ASSERT_OK(brain_reserve(b, NULL, "parents", 16, NULL, &res, &data));
    memcpy(data, "parent's value!!", 16);
    pid_t pid = t_fork();
    if (pid == 0) {
        ASSERT_ERR(brain_publish(b, res, NULL), BRAIN_ESTALE);
        ASSERT_EQ_INT(brain_exists(b, NULL, "parents"), 0);
        /* the child's own reservations work */
        brain_reservation *r2 = NULL;
        void *d2 = NULL;
        ASSERT_OK(brain_reserve(b, NULL, "childs", 5, NULL, &r2, &d2));
        memcpy(d2, "child", 5);
        ASSERT_OK(brain_publish(b, r2, NULL));
        ASSERT_OK(brain_close(b));
        t_child_exit(0);
    }
    t_wait_ok(pid);
    ASSERT_EQ_INT(brain_exists(b, NULL, "childs"), 1);
    ASSERT_EQ_INT(brain_exists(b, NULL, "parents"), 0);
    /* the parent still owns its reservation */
    ASSERT_OK(brain_publish(b, res, NULL));
    char buf[16];
    size_t n;
    ASSERT_OK(brain_read(b, NULL, "parents", buf, 16, &n, NULL));
    ASSERT_MEM_EQ(buf, "parent's value!!", 16);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(dead_reserver_space_reclaimed)
{
    brain *b = t_create(0, 16 << 20);
    uint64_t used0 = t_used(b);
    t_chan ready;
    t_chan_init(&ready);
    pid_t pid = t_fork();
    if (pid == 0) {
        brain *c = t_open(0);
        brain_reservation *res;
        void *data;
        ASSERT_OK(brain_reserve(c, NULL, "lost", 4 << 20, NULL, &res, &data));
        memset(data, 1, 4 << 20);
        t_chan_send(&ready, 'r');
        for (;;)
            pause();
    }
    ASSERT_EQ_INT(t_chan_recv_from(&ready, pid), 'r');
    ASSERT_GE_U64(t_used(b), used0 + (4 << 20));
    kill(pid, SIGKILL);
    t_wait_status(pid);
    size_t reaped = 0;
    ASSERT_OK(brain_reap(b, &reaped));
    /* the child had two slots: the inherited handle's and its own */
    ASSERT_GE_U64(reaped, 1);
    ASSERT_EQ_U64(t_used(b), used0);
    ASSERT_EQ_INT(brain_exists(b, NULL, "lost"), 0);
    ASSERT_EQ_U64(t_stats(b).procs, 1);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(publish_applies_type_desc_and_ttl)
{
    brain *b = t_create(0, 0);
    brain_put_opts o = {.type = BRAIN_TYPE_JSON, .desc = "reserved json",
                        .ttl_ms = 60000};
    brain_reservation *res = NULL;
    void *data = NULL;
    int64_t before = t_real_ns();
    ASSERT_OK(brain_reserve(b, "r", "doc", 7, &o, &res, &data));
    memcpy(data, "{\"a\":1}", 7);
    uint64_t v = 0;
    ASSERT_OK(brain_publish(b, res, &v));
    char sb[128];
    brain_info m;
    ASSERT_OK(brain_meta(b, "r", "doc", &m, sb, sizeof sb));
    ASSERT_EQ_INT(m.type, BRAIN_TYPE_JSON);
    ASSERT_STR_EQ(m.desc, "reserved json");
    ASSERT_EQ_U64(m.version, v);
    ASSERT_GE(m.expires_ns, before + 59000ll * 1000000);
    ASSERT_EQ_U64(m.size, 7);
    t_destroy(b, 0);
}

TEST(publish_view_pins_the_writers_memory)
{
    brain *b = t_create(0, 16 << 20);
    uint64_t pins0 = t_stats(b).pins;
    brain_reservation *res = NULL;
    void *data = NULL;
    size_t size = 2 << 20;
    ASSERT_OK(brain_reserve(b, "plasma", "obj", size, NULL, &res, &data));
    t_vfill(data, size, 7);
    brain_view view;
    uint64_t v = 0;
    ASSERT_OK(brain_publish_view(b, res, &v, &view));
    ASSERT_GT_U64(v, 0);
    ASSERT_EQ_U64(view.size, size);
    ASSERT_EQ_U64(view.info.version, v);
    ASSERT_STR_EQ(view.info.name, "obj");
    ASSERT_STR_EQ(view.info.ns, "plasma");
    ASSERT_VALUE(view.data, view.size, 7);
    ASSERT_EQ_U64(t_stats(b).pins, pins0 + 1);
    /* the view and the reserved pointer are the same memory: a write
     * through the writer's pointer (which the contract forbids) shows */
    unsigned char *w = data;
    unsigned char saved = w[100];
    w[100] = (unsigned char)(saved ^ 0xff);
    ASSERT_EQ_INT(((const unsigned char *)view.data)[100], saved ^ 0xff);
    w[100] = saved;
    /* another process deletes the name and fills the store: the block is
     * never handed to another value while the view is held */
    brain *other = t_open(0);
    ASSERT_OK(brain_delete(other, "plasma", "obj"));
    for (int i = 0; i < 64; i++) {
        char name[32];
        snprintf(name, sizeof name, "fill%d", i);
        int rc = brain_put(other, NULL, name, w, 1 << 20, NULL, NULL);
        if (rc == BRAIN_EFULL)
            break;
        ASSERT_OK(rc);
    }
    ASSERT_VALUE(data, size, 7);
    ASSERT_VALUE(view.data, view.size, 7);
    brain_view_release(b, &view);
    ASSERT_EQ_U64(t_stats(b).pins, pins0);
    /* now the space can come back */
    ASSERT_OK(brain_ns_clear(other, NULL, NULL));
    ASSERT_OK(brain_close(other));
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(publish_view_errors_leave_the_reservation)
{
    brain *b = t_create(0, 16 << 20);
    uint64_t used0 = t_used(b);
    brain_reservation *res = NULL;
    void *data = NULL;
    brain_view view;
    /* NULL view: refused, the reservation still the caller's */
    ASSERT_OK(brain_reserve(b, NULL, "k", 1 << 20, NULL, &res, &data));
    ASSERT_ERR(brain_publish_view(b, res, NULL, NULL), BRAIN_EINVAL);
    ASSERT_EQ_INT(brain_exists(b, NULL, "k"), 0);
    ASSERT_GE_U64(t_used(b), used0 + (1 << 20));
    brain_abort(b, res);
    ASSERT_EQ_U64(t_used(b), used0);
    /* a version conflict: nothing published, nothing pinned, view zeroed,
     * the memory still reserved (a caller may be writing it) until aborted */
    brain_put_opts o = {.flags = BRAIN_PUT_IF_VERSION, .if_version = 0};
    ASSERT_OK(brain_reserve(b, NULL, "k", 1 << 20, &o, &res, &data));
    t_vfill(data, 1 << 20, 3);
    ASSERT_OK(brain_put(b, NULL, "k", "theirs", 6, NULL, NULL));
    uint64_t used1 = t_used(b);
    memset(&view, 0x5a, sizeof view);
    ASSERT_ERR(brain_publish_view(b, res, NULL, &view), BRAIN_ECONFLICT);
    ASSERT_NULL(view.data);
    ASSERT_EQ_U64(view.pin_, 0);
    ASSERT_EQ_U64(t_stats(b).pins, 0);
    ASSERT_EQ_U64(t_used(b), used1);
    ASSERT_EQ_U64(t_stats(b).names, 1);
    /* nothing else was handed that memory */
    ASSERT_OK(brain_put(b, NULL, "other", data, 1 << 20, NULL, NULL));
    ASSERT_VALUE(data, 1 << 20, 3);
    brain_abort(b, res);
    ASSERT_LT_U64(t_used(b), used1 + (1 << 20));
    /* a full pin table: refused before anything is published; once views
     * are released the same reservation publishes */
    ASSERT_OK(brain_ns_clear(b, NULL, NULL));
    static brain_view many[BRAIN_PINS_PER_PROC];
    for (int i = 0; i < BRAIN_PINS_PER_PROC; i++) {
        char name[32];
        snprintf(name, sizeof name, "pin%d", i);
        ASSERT_OK(brain_put(b, NULL, name, "x", 1, NULL, NULL));
        ASSERT_OK(brain_get(b, NULL, name, &many[i]));
    }
    ASSERT_OK(brain_reserve(b, NULL, "late", 4096, NULL, &res, &data));
    memset(data, 'L', 4096);
    ASSERT_ERR(brain_publish_view(b, res, NULL, &view), BRAIN_EPINS);
    ASSERT_EQ_INT(brain_exists(b, NULL, "late"), 0);
    for (int i = 0; i < BRAIN_PINS_PER_PROC; i++)
        brain_view_release(b, &many[i]);
    ASSERT_EQ_U64(t_stats(b).pins, 0);
    ASSERT_OK(brain_publish_view(b, res, NULL, &view));
    ASSERT_EQ_U64(view.size, 4096);
    ASSERT_EQ_INT(((const char *)view.data)[4095], 'L');
    ASSERT_EQ_U64(t_stats(b).pins, 1);
    brain_view_release(b, &view);
    t_check_store(b);
    t_destroy(b, 0);
}

TEST(publish_view_of_a_parents_reservation_is_stale)
{
    brain *b = t_create(0, 0);
    brain_reservation *res = NULL;
    void *data = NULL;
    ASSERT_OK(brain_reserve(b, NULL, "parents", 16, NULL, &res, &data));
    memcpy(data, "parent's value!!", 16);
    pid_t pid = t_fork();
    if (pid == 0) {
        brain_view view;
        ASSERT_ERR(brain_publish_view(b, res, NULL, &view), BRAIN_ESTALE);
        ASSERT_NULL(view.data);
        ASSERT_EQ_INT(brain_exists(b, NULL, "parents"), 0);
        brain_abort(b, res); /* frees the child's copy, not the parent's block */
        ASSERT_OK(brain_close(b));
        t_child_exit(0);
    }
    t_wait_ok(pid);
    brain_view view;
    ASSERT_OK(brain_publish_view(b, res, NULL, &view));
    ASSERT_MEM_EQ(view.data, "parent's value!!", 16);
    brain_view_release(b, &view);
    t_check_store(b);
    t_destroy(b, 0);
}
