#!/bin/sh
# Print the path of a Python >= 3.13 interpreter, for the MongoDB-protocol test
# server (mongoeco needs 3.13+). Exit 1 when none is found.
for cand in python3.14 python3.13; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys' >/dev/null 2>&1; then
        command -v "$cand"
        exit 0
    fi
done
if command -v pyenv >/dev/null 2>&1; then
    for version in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.(1[3-9]|[2-9][0-9])' | sort -rV); do
        prefix=$(pyenv prefix "$version" 2>/dev/null) || continue
        if [ -x "$prefix/bin/python3" ]; then
            echo "$prefix/bin/python3"
            exit 0
        fi
    done
fi
for cand in /usr/bin/python3.14 /usr/bin/python3.13 /usr/local/bin/python3.14 /usr/local/bin/python3.13; do
    if [ -x "$cand" ]; then
        echo "$cand"
        exit 0
    fi
done
echo "find_python313.sh: no Python >= 3.13 found" >&2
exit 1
