/* The dashboard's static files, compiled in from orchestrator/http/ui by
 * embed_ui.cmake and served at / (index.html) and /ui/NAME. */
#ifndef HTTP_UI_H
#define HTTP_UI_H

#include <stddef.h>

typedef struct {
    const char *path;  /* "/ui/app.js"; NULL ends the table */
    const char *content_type;
    const unsigned char *data;
    size_t len;
} http_asset_t;

extern const http_asset_t http_assets[];

/* The asset at path ("/" is /ui/index.html), or NULL. */
const http_asset_t *http_ui_find(const char *path);

#endif
