/*
 * report_html.h — the HTML report's parts (report_html.c).
 */
#ifndef LS_REPORT_HTML_H
#define LS_REPORT_HTML_H

/* report_html_script.c: the page's script, zoom and search over the
 * flame graph's boxes (g.f, with data-i/p/l/x/w/c/n). */
extern const char ls_html_script[];

#endif
