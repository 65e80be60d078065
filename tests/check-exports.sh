#!/usr/bin/env bash
# The shared library exports the whole lws_threadpool API (14 functions)
# and nothing but that API and the lwstp_ additions.
set -u
lib=$1
api="lws_threadpool_create lws_threadpool_finish lws_threadpool_destroy
lws_threadpool_enqueue lws_threadpool_dequeue lws_threadpool_dequeue_task
lws_threadpool_task_status_wsi lws_threadpool_task_status
lws_threadpool_task_status_noreap lws_threadpool_task_sync
lws_threadpool_dump lws_threadpool_get_task_wsi
lws_threadpool_foreach_task_wsi lws_threadpool_diagnose"
exported=$(nm -D --defined-only "$lib" | awk '$2 == "T" { print $3 }')
pass=0 fail=0
for f in $api; do
	if grep -qx "$f" <<<"$exported"; then pass=$((pass+1))
	else echo "missing export: $f"; fail=$((fail+1)); fi
done
for f in $exported; do
	case $f in
	lws_threadpool_*|lwstp_*|_init|_fini) pass=$((pass+1)) ;;
	*) echo "unexpected export: $f"; fail=$((fail+1)) ;;
	esac
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
