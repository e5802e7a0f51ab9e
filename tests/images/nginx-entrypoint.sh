#!/bin/sh
# Entrypoint of the local nginx image (tests/images/build-nginx.sh). It does for the chat stack
# what the official nginx image's entrypoint does (docker-library/nginx: docker-entrypoint.sh,
# entrypoint/20-envsubst-on-templates.sh), so that compose/chat/compose.yml runs unchanged:
# when the command is nginx, every TEMPLATE_DIR/**/*.template becomes OUTPUT_DIR/** with
# envsubst, replacing only the variables defined in the environment (and, with
# NGINX_ENVSUBST_FILTER, only those whose names match that regular expression); nginx's own
# `$variables` are left alone. Then the command runs as PID 1.
set -eu

render_templates() {
  templates=${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}
  suffix=${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}
  output=${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}
  [ -d "$templates" ] || return 0
  # `${NAME} ${OTHER} ...` for the variables that are set: envsubst's list of what to replace.
  names=$(awk -v filter="${NGINX_ENVSUBST_FILTER:-}" \
    'BEGIN { for (n in ENVIRON) if (n ~ /^[A-Za-z_][A-Za-z0-9_]*$/ && n ~ filter) printf "${%s} ", n }')
  find "$templates" -follow -type f -name "*$suffix" | while read -r template; do
    relative=${template#"$templates"/}
    target="$output/${relative%"$suffix"}"
    mkdir -p "$(dirname "$target")"
    echo "nginx-entrypoint: rendering $template into $target" >&2
    envsubst "$names" < "$template" > "$target"
  done
}

case "${1:-}" in
  nginx | nginx-debug) render_templates ;;
esac
exec "$@"
