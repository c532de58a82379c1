#!/bin/sh
# Written by runbook (stdlib nginx): nginx-check-site NAME FILE
# Checks a site's new config before it replaces the live one: nginx's own config, with
# sites-enabled as it will be (FILE as NAME.conf, Debian's default site gone), must pass
# `nginx -t`. The live files are not touched.
set -u
name=$1
file=$2
d=$(mktemp -d) || exit 1
mkdir "$d/sites" || exit 1
for f in /etc/nginx/sites-enabled/*; do
    [ -e "$f" ] || continue
    case "$(basename "$f")" in
        default | "$name.conf") ;;
        *) cp -L "$f" "$d/sites/" || { rm -rf "$d"; exit 1; } ;;
    esac
done
cp "$file" "$d/sites/$name.conf" &&
    sed "s#/etc/nginx/sites-enabled/#$d/sites/#" /etc/nginx/nginx.conf > "$d/nginx.conf" &&
    nginx -t -q -c "$d/nginx.conf"
r=$?
rm -rf "$d"
exit $r
