/* ibx report internals: SVG line charts (report_svg.c) and HTML text. */
#ifndef IBX_REPORT_INTERNAL_H
#define IBX_REPORT_INTERNAL_H

#include <stdio.h>

/* One series of a chart. Points with a non-finite y are left out (the line
 * breaks there). A reference series is a horizontal line at y[0] across the
 * whole plot (x ignored), with a band of ± err[0] when err is given. */
typedef struct {
  const char *name;
  const double *x, *y, *err; /* err: error bars (NULL: none) */
  int n;
  int reference;
} ibx_svg_series;

typedef struct {
  const char *title, *xlabel, *ylabel;
  int width, height;
  int logx;               /* log10 x axis (all x > 0) */
  const double *marks;    /* vertical dashed lines at these x (epoch starts) */
  int n_marks;
  const char *mark_label; /* printed next to each mark with its index + 2 */
} ibx_svg_chart;

/* Writes one <svg> element (inline, with a <title> tooltip per point). */
void ibx_svg_chart_write(FILE *f, const ibx_svg_chart *c, const ibx_svg_series *s, int n);

/* s with & < > " ' escaped, for HTML text and attributes (and SVG). */
void ibx_html_text(FILE *f, const char *s);

#endif
