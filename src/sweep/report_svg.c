/* SVG line charts for the HTML report: axes with round ticks (linear or
 * log10 x), one polyline per series, markers with a tooltip per point, error
 * bars, horizontal reference lines, dashed vertical marks and a legend. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report_internal.h"

/* Colour-blind-safe palette (Okabe-Ito), then greys. */
static const char *const palette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00",
                                      "#56B4E9", "#000000", "#F0E442", "#777777", "#AAAAAA"};
#define N_COLOURS ((int)(sizeof palette / sizeof palette[0]))

#define MARGIN_L 64
#define MARGIN_R 14
#define MARGIN_T 26
#define MARGIN_B 38
#define LEGEND_ROW 16

void ibx_html_text(FILE *f, const char *s) {
  for (; *s; s++)
    switch (*s) {
    case '&': fputs("&amp;", f); break;
    case '<': fputs("&lt;", f); break;
    case '>': fputs("&gt;", f); break;
    case '"': fputs("&quot;", f); break;
    case '\'': fputs("&#39;", f); break;
    default: fputc(*s, f);
    }
}

typedef struct {
  double lo, hi; /* data range (log10 units on a log axis) */
  int log;
  double px0, px1; /* pixel range */
} axis;

static double to_px(const axis *a, double v) {
  const double t = a->log ? log10(v) : v;
  return a->px0 + (t - a->lo) / (a->hi - a->lo) * (a->px1 - a->px0);
}

/* A round step (1, 2 or 5 x 10^k) giving about `want` ticks over span. */
static double nice_step(double span, int want) {
  const double raw = span / want, mag = pow(10.0, floor(log10(raw))), r = raw / mag;
  return mag * (r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10);
}

static void widen(axis *a) {
  if (!isfinite(a->lo) || !isfinite(a->hi))
    a->lo = 0, a->hi = 1;
  if (a->hi - a->lo < 1e-12 * (fabs(a->lo) + fabs(a->hi)) || a->hi <= a->lo) {
    const double pad = a->lo != 0 ? 0.1 * fabs(a->lo) : 1.0;
    a->lo -= pad, a->hi += pad;
  } else if (!a->log) {
    const double pad = 0.05 * (a->hi - a->lo);
    a->lo -= pad, a->hi += pad;
  } else {
    a->lo -= 0.15, a->hi += 0.15;
  }
}

static void tick_label(char *out, size_t len, double v) {
  if (v != 0 && (fabs(v) >= 1e5 || fabs(v) < 1e-3))
    snprintf(out, len, "%.0e", v);
  else
    snprintf(out, len, "%.6g", v);
}

/* Ticks and grid lines of an axis (horizontal: x axis). */
static void draw_ticks(FILE *f, const axis *a, int horizontal, double other0, double other1) {
  double first, step;
  if (a->log) {
    first = ceil(a->lo), step = 1;
  } else {
    step = nice_step(a->hi - a->lo, horizontal ? 5 : 5);
    first = ceil(a->lo / step) * step;
  }
  for (double t = first; t <= a->hi + 1e-9 * step; t += step) {
    const double v = a->log ? pow(10.0, t) : (fabs(t) < 1e-9 * step ? 0.0 : t);
    const double p = to_px(a, v);
    char label[32];
    tick_label(label, sizeof label, v);
    if (horizontal)
      fprintf(f,
              "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' class='grid'/>"
              "<text x='%.1f' y='%.1f' class='tick' text-anchor='middle'>%s</text>\n",
              p, other0, p, other1, p, other0 + 13, label);
    else
      fprintf(f,
              "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' class='grid'/>"
              "<text x='%.1f' y='%.1f' class='tick' text-anchor='end'>%s</text>\n",
              other0, p, other1, p, other0 - 4, p + 3.5, label);
  }
}

static int finite_point(const ibx_svg_chart *c, const ibx_svg_series *s, int i) {
  return isfinite(s->y[i]) && (s->reference || (isfinite(s->x[i]) && (!c->logx || s->x[i] > 0)));
}

void ibx_svg_chart_write(FILE *f, const ibx_svg_chart *c, const ibx_svg_series *s, int n) {
  axis x = {INFINITY, -INFINITY, c->logx, MARGIN_L, c->width - MARGIN_R};
  const int plot_bottom = c->height - MARGIN_B;
  axis y = {INFINITY, -INFINITY, 0, plot_bottom, MARGIN_T};
  int shown = 0;
  for (int k = 0; k < n; k++) {
    int any = 0;
    for (int i = 0; i < s[k].n; i++) {
      if (!finite_point(c, &s[k], i))
        continue;
      const double e = s[k].err && isfinite(s[k].err[i]) ? s[k].err[i] : 0;
      y.lo = fmin(y.lo, s[k].y[i] - e), y.hi = fmax(y.hi, s[k].y[i] + e);
      if (!s[k].reference) {
        const double xv = c->logx ? log10(s[k].x[i]) : s[k].x[i];
        x.lo = fmin(x.lo, xv), x.hi = fmax(x.hi, xv);
      }
      any = 1;
      if (s[k].reference)
        break;
    }
    shown += any;
  }
  widen(&x), widen(&y);
  const int legend_h = LEGEND_ROW * n + 4;
  const int total_h = c->height + legend_h;
  fprintf(f, "<svg class='chart' width='%d' height='%d' "
             "viewBox='0 0 %d %d' role='img'><title>",
          c->width, total_h, c->width, total_h);
  ibx_html_text(f, c->title);
  fprintf(f, "</title>\n<rect width='100%%' height='100%%' fill='#fff'/>\n");
  fprintf(f, "<text x='%d' y='16' class='ctitle'>", MARGIN_L);
  ibx_html_text(f, c->title);
  fprintf(f, "</text>\n");
  draw_ticks(f, &x, 1, plot_bottom, MARGIN_T);
  draw_ticks(f, &y, 0, MARGIN_L, c->width - MARGIN_R);
  fprintf(f, "<rect x='%d' y='%d' width='%d' height='%d' class='frame'/>\n", MARGIN_L, MARGIN_T,
          c->width - MARGIN_L - MARGIN_R, plot_bottom - MARGIN_T);
  fprintf(f, "<text x='%.1f' y='%d' class='alabel' text-anchor='middle'>",
          0.5 * (x.px0 + x.px1), c->height - 6);
  ibx_html_text(f, c->xlabel);
  fprintf(f, "</text><text transform='translate(13 %.1f) rotate(-90)' class='alabel' "
             "text-anchor='middle'>",
          0.5 * (y.px0 + y.px1));
  ibx_html_text(f, c->ylabel);
  fprintf(f, "</text>\n");
  for (int m = 0; m < c->n_marks; m++) {
    if (!isfinite(c->marks[m]) || (c->logx && c->marks[m] <= 0))
      continue;
    const double p = to_px(&x, c->marks[m]);
    fprintf(f, "<line x1='%.1f' y1='%d' x2='%.1f' y2='%d' class='mark'/>", p, MARGIN_T, p,
            plot_bottom);
    if (c->mark_label)
      fprintf(f, "<text x='%.1f' y='%d' class='tick'>%s %d</text>\n", p + 3, MARGIN_T + 10,
              c->mark_label, m + 2);
  }
  for (int k = 0; k < n; k++) {
    const ibx_svg_series *se = &s[k];
    const char *col = palette[k % N_COLOURS];
    if (se->reference) {
      if (se->n < 1 || !isfinite(se->y[0]))
        continue;
      const double py = to_px(&y, se->y[0]);
      if (se->err && se->err[0] > 0) {
        const double a = to_px(&y, se->y[0] + se->err[0]), b = to_px(&y, se->y[0] - se->err[0]);
        fprintf(f, "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='%s' "
                   "fill-opacity='0.12'/>", x.px0, a, x.px1 - x.px0, b - a, col);
      }
      fprintf(f, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='%s' stroke-width='2' "
                 "stroke-dasharray='7 4'><title>",
              x.px0, py, x.px1, py, col);
      ibx_html_text(f, se->name);
      fprintf(f, ": %.6g", se->y[0]);
      if (se->err)
        fprintf(f, " ± %.3g", se->err[0]);
      fprintf(f, "</title></line>\n");
      continue;
    }
    fprintf(f, "<path fill='none' stroke='%s' stroke-width='1.8' d='", col);
    int pen_up = 1;
    for (int i = 0; i < se->n; i++) {
      if (!finite_point(c, se, i)) {
        pen_up = 1;
        continue;
      }
      fprintf(f, "%c%.1f %.1f ", pen_up ? 'M' : 'L', to_px(&x, se->x[i]), to_px(&y, se->y[i]));
      pen_up = 0;
    }
    fprintf(f, "'/>\n");
    const int markers = se->n <= 40 || se->err;
    for (int i = 0; i < se->n; i++) {
      if (!finite_point(c, se, i))
        continue;
      const double px = to_px(&x, se->x[i]), py = to_px(&y, se->y[i]);
      if (se->err && se->err[i] > 0) {
        const double a = to_px(&y, se->y[i] + se->err[i]), b = to_px(&y, se->y[i] - se->err[i]);
        fprintf(f, "<path stroke='%s' stroke-width='1.4' d='M%.1f %.1fL%.1f %.1fM%.1f %.1fL%.1f "
                   "%.1fM%.1f %.1fL%.1f %.1f'/>",
                col, px, a, px, b, px - 4, a, px + 4, a, px - 4, b, px + 4, b);
      }
      if (markers) {
        fprintf(f, "<circle cx='%.1f' cy='%.1f' r='3.2' fill='%s'><title>", px, py, col);
        ibx_html_text(f, se->name);
        fprintf(f, ": %.6g at %.6g", se->y[i], se->x[i]);
        if (se->err)
          fprintf(f, " (± %.3g)", se->err[i]);
        fprintf(f, "</title></circle>");
      }
    }
    fprintf(f, "\n");
  }
  for (int k = 0; k < n; k++) { /* legend under the plot */
    const int ly = c->height + LEGEND_ROW * k + 10;
    fprintf(f, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='%s' stroke-width='2.5'%s/>",
            MARGIN_L, ly, MARGIN_L + 22, ly, palette[k % N_COLOURS],
            s[k].reference ? " stroke-dasharray='7 4'" : "");
    fprintf(f, "<text x='%d' y='%d' class='legend'>", MARGIN_L + 28, ly + 4);
    ibx_html_text(f, s[k].name);
    fprintf(f, "</text>\n");
  }
  if (!shown)
    fprintf(f, "<text x='%.1f' y='%.1f' class='alabel' text-anchor='middle'>no data</text>\n",
            0.5 * (x.px0 + x.px1), 0.5 * (y.px0 + y.px1));
  fprintf(f, "</svg>\n");
}
