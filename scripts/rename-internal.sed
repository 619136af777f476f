# scripts/rename-internal.sed - issue 17: libbrain's internal names get the
# brain__ prefix (as libuv's uv__), so that `nm -g build/libbrain.a` shows
# only brain_* names and programs that link the library cannot collide with
# it.  A pure word-for-word map; apply it to a branch with
#     sh scripts/rename-internal.sh
# (sed -i -E -f scripts/rename-internal.sed over every .c/.h under src/ cli/
# tests/ python/brain_plasma/).  Running it twice changes nothing.
#
# `repair` is matched only as a call: the word also names a CLI flag, the
# fuzz target store-repair and messages.
s/\bbh_fail\b/brain__fail/g
s/\bbh_clear_error\b/brain__clear_error/g
s/\bbh_fmt_size\b/brain__fmt_size/g
s/\bplat_now_ns\b/brain__plat_now_ns/g
s/\bplat_mono_ns\b/brain__plat_mono_ns/g
s/\bplat_proc_start_time\b/brain__plat_proc_start_time/g
s/\bplat_proc_alive\b/brain__plat_proc_alive/g
s/\bplat_futex_wait\b/brain__plat_futex_wait/g
s/\bplat_futex_wake\b/brain__plat_futex_wake/g
s/\bplat_random\b/brain__plat_random/g
s/\bplat_reserve_space\b/brain__plat_reserve_space/g
s/\bplat_prefault_write\b/brain__plat_prefault_write/g
s/\bplat_lock_file\b/brain__plat_lock_file/g
s/\bbh_check_name\b/brain__name_check/g
s/\bbh_utf8_valid\b/brain__utf8_valid/g
s/\bbh_validate_value\b/brain__value_validate/g
s/\bbh_checksum_wide\b/brain__checksum_wide/g
s/\bbh_checksum\b/brain__checksum/g
s/\bbh_wide_init\b/brain__wide_init/g
s/\bbh_wide_rounds\b/brain__wide_rounds/g
s/\bbh_wide_final\b/brain__wide_final/g
s/\bbh_wide\b/brain__wide/g
s/\bbh_hash\b/brain__key_hash/g
s/\balloc_block\b/brain__alloc_block/g
s/\balloc_free\b/brain__alloc_free/g
s/\balloc_grow\b/brain__alloc_grow/g
s/\balloc_insert_free\b/brain__alloc_insert_free/g
s/\balloc_remove_free\b/brain__alloc_remove_free/g
s/\balloc_largest_free\b/brain__alloc_largest_free/g
s/\balloc_reset_lists\b/brain__alloc_reset_lists/g
s/\balloc_below\b/brain__alloc_below/g
s/\blane_enter\b/brain__lane_enter/g
s/\blane_leave\b/brain__lane_leave/g
s/\bpin_add\b/brain__pin_add/g
s/\bpin_drop\b/brain__pin_drop/g
s/\blimbo_retire\b/brain__limbo_retire/g
s/\blimbo_reclaim\b/brain__limbo_reclaim/g
s/\blocal_pins_reset\b/brain__local_pins_reset/g
s/\bindex_find\b/brain__index_find/g
s/\bindex_slot_for\b/brain__index_slot_for/g
s/\bindex_maybe_grow\b/brain__index_maybe_grow/g
s/\bindex_reserve\b/brain__index_reserve/g
s/\bindex_create\b/brain__index_create/g
s/\bindex_relocate\b/brain__index_relocate/g
s/\bindex_table\b/brain__index_table/g
s/\bentry_at\b/brain__entry_at/g
s/\bentry_ns\b/brain__entry_ns/g
s/\bentry_name\b/brain__entry_name/g
s/\bentry_desc\b/brain__entry_desc/g
s/\bentry_expired\b/brain__entry_expired/g
s/\bentry_key_eq\b/brain__entry_key_eq/g
s/\bentry_fill_info\b/brain__entry_fill_info/g
s/\bns_find\b/brain__ns_find/g
s/\bns_get_or_add\b/brain__ns_get_or_add/g
s/\bns_account\b/brain__ns_account/g
s/\bns_hash\b/brain__ns_hash/g
s/\bwriter_lock_ex\b/brain__writer_lock_ex/g
s/\bwriter_lock\b/brain__writer_lock/g
s/\bwriter_unlock\b/brain__writer_unlock/g
s/\bhandle_ok\b/brain__handle_ready/g
s/\bslot_claim\b/brain__slot_claim/g
s/\bwake_key\b/brain__wake_key/g
s/\breap_dead\b/brain__reap_dead/g
s/\battach_slot\b/brain__slot_attach/g
s/\bslot_reap\b/brain__slot_reap/g
s/\bput_locked\b/brain__put_locked/g
s/\bbh_reserve\b/brain__reserve/g
s/\bbh_ptr\b/brain__ptr/g
s/\bbh_block_at\b/brain__block_at/g
s/\bbh_damaged\b/brain__mark_damaged/g
s/\bbh_slot_at\b/brain__slot_at/g
s/\bbh_ns_at\b/brain__nsrec_at/g
s/\bblk_valid\b/brain__block_valid/g
s/\bbh_block\b/brain__block/g
s/\bbh_entry\b/brain__entry/g
s/\bbh_header\b/brain__header/g
s/\bbh_slot\b/brain__slot/g
s/\bbh_nsrec\b/brain__nsrec/g
s/\bbh_lane\b/brain__lane/g
s/\brepair\(/brain__repair(/g
