package io.zerohop.benchmarks;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.HdrHistogram.Histogram;

/** Markdown table (ratios to plain TCP) and a hand-written SVG latency-by-percentile chart. */
final class Report {
    private Report() {}

    private static final double[] PCTS = {50, 90, 99, 99.9};

    static String markdown(Map<String, LoadRunner.Result> results, String machine, Instant started, String loadBefore,
                           String loadAfter, double seconds, double warmup, int idle, List<String> scenarios, List<Integer> httpClients,
                           int httpWarmup) {
        LoadRunner.Result tcp = results.get("tcp");
        StringBuilder sb = new StringBuilder();
        sb.append("## Load runner results (").append(started).append(")\n\n");
        sb.append("```\n").append(machine).append("\nload average before: ").append(loadBefore)
                .append("\nload average after:  ").append(loadAfter)
                .append(String.format(Locale.ROOT, "\nscenarios: %s; %.0f s measured per throughput/latency scenario (+%.1f s warm-up), idle tunnels: %d\n",
                        scenarios, seconds, warmup, idle))
                .append("```\n\n");
        sb.append("Ratios in parentheses are to plain TCP (throughput and open rate: higher is better; latency: lower is better).\n\n");
        if (scenarios.contains("http")) {
            http(sb, results, httpClients, seconds, httpWarmup);
        }
        if (scenarios.stream().anyMatch(x -> !x.equals("http"))) {
            bytes(sb, results, tcp);
        }
        List<String> errs = new ArrayList<>();
        results.forEach((k, r) -> r.errors.forEach(x -> errs.add(k + " " + x)));
        if (!errs.isEmpty()) {
            sb.append("\nErrors (`failed*` cells):\n");
            errs.forEach(x -> sb.append("- ").append(x.replace("\n", " ")).append('\n'));
        }
        sb.append("\nPaths:\n");
        results.forEach((k, r) -> sb.append("- `").append(k).append("`: ").append(r.description).append('\n'));
        return sb.toString();
    }

    /** Small HTTP/1.1 requests (h2load): requests/s and latency percentiles per client count. */
    private static void http(StringBuilder sb, Map<String, LoadRunner.Result> results, List<Integer> clients, double seconds,
                             int warmup) {
        LoadRunner.Result tcp = results.get("tcp");
        sb.append(String.format(Locale.ROOT, "### HTTP/1.1 `GET %s` (h2load --h1, keep-alive, 1 request in flight per connection, %.0f s after %d s warm-up)%n%n",
                Paths.HTTP_PATH, seconds, warmup));
        StringBuilder head = new StringBuilder("| path |");
        StringBuilder rule = new StringBuilder("|---|");
        for (int c : clients) {
            head.append(String.format(Locale.ROOT, " %d conn req/s | p50 µs | p99 µs | p99.9 µs |", c));
            rule.append("---:|---:|---:|---:|");
        }
        sb.append(head).append('\n').append(rule).append('\n');
        for (Map.Entry<String, LoadRunner.Result> e : results.entrySet()) {
            LoadRunner.Result r = e.getValue();
            if (r.skipped != null) {
                sb.append("| ").append(e.getKey()).append(" | skipped: ").append(r.skipped.replace("|", "/")).append(" |\n");
                continue;
            }
            if (r.http.isEmpty() && r.errors.stream().noneMatch(x -> x.startsWith("http:"))) {
                continue; // no TCP front: the embedded paths
            }
            sb.append("| ").append(e.getKey());
            for (int c : clients) {
                LoadRunner.Http h = r.http.get(c);
                LoadRunner.Http b = tcp == null ? null : tcp.http.get(c);
                sb.append(" | ").append(failed(r, "http", h == null ? "–" : rate(h.rps(), b == null ? Double.NaN : b.rps(), "%.0f")));
                for (double p : new double[] {50, 99, 99.9}) {
                    double v = h == null || h.latency().getTotalCount() == 0 ? Double.NaN : h.latency().getValueAtPercentile(p) / 1e3;
                    double base = b == null || b.latency().getTotalCount() == 0 ? Double.NaN : b.latency().getValueAtPercentile(p) / 1e3;
                    sb.append(" | ").append(rate(v, base, "%.0f"));
                }
            }
            sb.append(" |\n");
        }
        sb.append('\n');
        results.forEach((k, r) -> r.http.forEach((c, h) -> {
            if (c == clients.get(0)) {
                sb.append("- `").append(k).append("`: `h2load ").append(h.command()).append("`\n");
            }
        }));
        sb.append('\n');
    }

    private static void bytes(StringBuilder sb, Map<String, LoadRunner.Result> results, LoadRunner.Result tcp) {
        sb.append("| path | bulk 1 stream MB/s | bulk 16 streams MB/s | 1 KiB echo p50 µs | p90 µs | p99 µs | p99.9 µs | tunnel opens/s |"
                + " idle tunnels | per idle tunnel: JVM heap B | JVM RSS B | proxy processes RSS B |\n");
        sb.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for (Map.Entry<String, LoadRunner.Result> e : results.entrySet()) {
            LoadRunner.Result r = e.getValue();
            if (!r.bytes) {
                continue; // an HTTP-only path
            }
            if (r.skipped != null) {
                sb.append("| ").append(e.getKey()).append(" | skipped: ").append(r.skipped.replace("|", "/")).append(" ||||||||||\n");
                continue;
            }
            sb.append("| ").append(e.getKey());
            sb.append(" | ").append(failed(r, "bulk1", rate(r.bulk1 / 1e6, tcp == null ? Double.NaN : tcp.bulk1 / 1e6, "%.0f")));
            sb.append(" | ").append(failed(r, "bulk16", rate(r.bulk16 / 1e6, tcp == null ? Double.NaN : tcp.bulk16 / 1e6, "%.0f")));
            for (double p : PCTS) {
                double v = r.latency == null ? Double.NaN : r.latency.getValueAtPercentile(p) / 1e3;
                double b = tcp == null || tcp.latency == null ? Double.NaN : tcp.latency.getValueAtPercentile(p) / 1e3;
                sb.append(" | ").append(failed(r, "latency", rate(v, b, "%.1f")));
            }
            sb.append(" | ").append(failed(r, "open", rate(r.openRate, tcp == null ? Double.NaN : tcp.openRate, "%.0f")));
            sb.append(" | ").append(r.idleTunnels == 0 ? "–" : String.format(Locale.ROOT, "%,d", r.idleTunnels));
            sb.append(" | ").append(num(r.heapPerTunnel)).append(" | ").append(num(r.rssPerTunnel)).append(" | ")
                    .append(num(r.extRssPerTunnel)).append(" |\n");
        }
        if (results.values().stream().anyMatch(r -> r.bulk1Cpu != null || r.bulk16Cpu != null)) {
            sb.append("\nCPU per MB delivered in the bulk scenarios, µs (Java threads of this JVM: generator, app and in-process"
                    + " proxies, without JIT and GC / of those, the in-process proxies' event loops / the whole JVM / the path's"
                    + " external processes); moves less with the machine's load than MB/s:\n\n| path | bulk 1: Java threads | proxy loops"
                    + " | JVM | external | bulk 16: Java threads | proxy loops | JVM | external |\n"
                    + "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
            for (Map.Entry<String, LoadRunner.Result> e : results.entrySet()) {
                LoadRunner.Result r = e.getValue();
                if (r.bulk1Cpu == null && r.bulk16Cpu == null) {
                    continue;
                }
                sb.append("| ").append(e.getKey());
                for (double[] c : new double[][] {r.bulk1Cpu, r.bulk16Cpu}) {
                    for (int i : new int[] {0, 3, 1, 2}) {
                        sb.append(" | ").append(c == null ? "–" : String.format(Locale.ROOT, "%.0f", c[i] / 1e3));
                    }
                }
                sb.append(" |\n");
            }
        }
        sb.append("\nIdle-tunnel memory is the growth per open tunnel measured in this JVM (load generator sockets, app server, and the"
                + " in-process zerohop client/server/proxies) after 3× System.gc(), plus the RSS growth of the path's external proxy"
                + " processes; subtract the `tcp` row to get the cost of the tunnel itself.\n");
        results.forEach((k, r) -> {
            if (r.idleNote != null) {
                sb.append("\n`").append(k).append("` idle tunnels ").append(r.idleNote).append('.');
            }
        });
        sb.append('\n');
    }

    /** "failed" (see Errors below the table) in place of a dash when the scenario threw. */
    private static String failed(LoadRunner.Result r, String scenario, String cell) {
        return cell.equals("–") && r.errors.stream().anyMatch(e -> e.startsWith(scenario + ":")) ? "failed*" : cell;
    }

    private static String rate(double v, double base, String fmt) {
        if (Double.isNaN(v)) {
            return "–";
        }
        String s = String.format(Locale.ROOT, fmt, v);
        if (!Double.isNaN(base) && base > 0) {
            s += String.format(Locale.ROOT, " (%.2f×)", v / base);
        }
        return s;
    }

    private static String num(double v) {
        return Double.isNaN(v) ? "–" : String.format(Locale.ROOT, "%,.0f", v);
    }

    private static final String[] COLORS = {"#222222", "#d62728", "#ff7f0e", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2",
            "#17becf"};

    /** Latency by percentile, log-log: x = log10(1/(1-p)), y = log10(µs). */
    static String svg(Map<String, LoadRunner.Result> results) {
        int w = 900;
        int h = 540;
        int left = 80;
        int right = 230;
        int top = 50;
        int bottom = 60;
        double xMax = 4; // 99.99th
        double minUs = Double.MAX_VALUE;
        double maxUs = 0;
        List<Map.Entry<String, Histogram>> series = new ArrayList<>();
        for (Map.Entry<String, LoadRunner.Result> e : results.entrySet()) {
            Histogram hist = e.getValue().latency;
            if (hist == null || hist.getTotalCount() == 0) {
                continue;
            }
            series.add(Map.entry(e.getKey(), hist));
            minUs = Math.min(minUs, hist.getValueAtPercentile(0) / 1e3);
            maxUs = Math.max(maxUs, hist.getValueAtPercentile(99.99) / 1e3);
        }
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"12\">%n", w, h));
        sb.append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"24\" font-size=\"16\">1 KiB echo latency by percentile (one connection, loopback)</text>%n", left));
        if (series.isEmpty()) {
            return sb.append("</svg>\n").toString();
        }
        double yLo = Math.floor(Math.log10(Math.max(1, minUs)));
        double yHi = Math.ceil(Math.log10(maxUs));
        if (yHi <= yLo) {
            yHi = yLo + 1;
        }
        int pw = w - left - right;
        int ph = h - top - bottom;
        final double fyLo = yLo;
        final double fyHi = yHi;
        java.util.function.DoubleUnaryOperator X = x -> left + x / xMax * pw;
        java.util.function.DoubleUnaryOperator Y = us -> top + ph - (Math.log10(Math.max(us, 1e-3)) - fyLo) / (fyHi - fyLo) * ph;
        // grid
        String[] labels = {"0%", "90%", "99%", "99.9%", "99.99%"};
        for (int i = 0; i <= 4; i++) {
            double x = X.applyAsDouble(i);
            sb.append(String.format(Locale.ROOT, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>%n", x, top, x, top + ph));
            sb.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>%n", x, top + ph + 18, labels[i]));
        }
        double x50 = X.applyAsDouble(Math.log10(2));
        sb.append(String.format(Locale.ROOT, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#eee\"/>%n", x50, top, x50, top + ph));
        sb.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#888\">50%%</text>%n", x50, top + ph + 18));
        for (double d = yLo; d <= yHi + 1e-9; d++) {
            for (int m = 1; m < 10; m++) {
                double us = Math.pow(10, d) * m;
                if (Math.log10(us) > yHi + 1e-9) {
                    break;
                }
                double y = Y.applyAsDouble(us);
                sb.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\"/>%n", left, y, left + pw, y,
                        m == 1 ? "#ccc" : "#f2f2f2"));
                if (m == 1 || m == 2 || m == 5) {
                    sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>%n", left - 6, y + 4, fmtUs(us)));
                }
            }
        }
        sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">percentile</text>%n", left + pw / 2, h - 18));
        sb.append(String.format(Locale.ROOT, "<text x=\"18\" y=\"%d\" transform=\"rotate(-90 18 %d)\" text-anchor=\"middle\">latency (log scale)</text>%n",
                top + ph / 2, top + ph / 2));
        sb.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>%n", left, top, pw, ph));
        int i = 0;
        for (Map.Entry<String, Histogram> s : series) {
            String color = COLORS[i % COLORS.length];
            StringBuilder pts = new StringBuilder();
            for (double x = 0; x <= xMax + 1e-9; x += 0.05) {
                double p = 100 * (1 - Math.pow(10, -x));
                double us = s.getValue().getValueAtPercentile(Math.min(p, 99.99)) / 1e3;
                pts.append(String.format(Locale.ROOT, "%.1f,%.1f ", X.applyAsDouble(x), Y.applyAsDouble(us)));
            }
            sb.append(String.format(Locale.ROOT, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"%s\"/>%n", color, pts.toString().trim()));
            int ly = top + 10 + i * 36;
            Histogram hist = s.getValue();
            sb.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"3\"/>%n",
                    left + pw + 12, ly, left + pw + 32, ly, color));
            sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\">%s</text>%n", left + pw + 38, ly + 4, esc(s.getKey())));
            sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" fill=\"#666\" font-size=\"10\">p50 %s, p99 %s, p99.9 %s</text>%n",
                    left + pw + 38, ly + 17, fmtUs(hist.getValueAtPercentile(50) / 1e3), fmtUs(hist.getValueAtPercentile(99) / 1e3),
                    fmtUs(hist.getValueAtPercentile(99.9) / 1e3)));
            i++;
        }
        sb.append("</svg>\n");
        return sb.toString();
    }

    /**
     * The same chart as {@link #svg} as a PNG (Java2D, headless), for viewers without SVG. Returns
     * null when this JVM cannot render (no java.desktop or no fonts).
     */
    static byte[] png(Map<String, LoadRunner.Result> results) {
        try {
            System.setProperty("java.awt.headless", "true");
            int w = 900;
            int h = 540;
            int left = 80;
            int right = 230;
            int top = 50;
            int bottom = 60;
            double xMax = 4;
            List<Map.Entry<String, Histogram>> series = new ArrayList<>();
            double minUs = Double.MAX_VALUE;
            double maxUs = 0;
            for (Map.Entry<String, LoadRunner.Result> e : results.entrySet()) {
                Histogram hist = e.getValue().latency;
                if (hist != null && hist.getTotalCount() > 0) {
                    series.add(Map.entry(e.getKey(), hist));
                    minUs = Math.min(minUs, hist.getValueAtPercentile(0) / 1e3);
                    maxUs = Math.max(maxUs, hist.getValueAtPercentile(99.99) / 1e3);
                }
            }
            java.awt.image.BufferedImage img = new java.awt.image.BufferedImage(w, h, java.awt.image.BufferedImage.TYPE_INT_RGB);
            java.awt.Graphics2D g = img.createGraphics();
            g.setRenderingHint(java.awt.RenderingHints.KEY_ANTIALIASING, java.awt.RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(java.awt.RenderingHints.KEY_TEXT_ANTIALIASING, java.awt.RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(java.awt.Color.WHITE);
            g.fillRect(0, 0, w, h);
            g.setColor(java.awt.Color.BLACK);
            g.setFont(new java.awt.Font(java.awt.Font.SANS_SERIF, java.awt.Font.PLAIN, 16));
            g.drawString("1 KiB echo latency by percentile (one connection, loopback)", left, 24);
            g.setFont(new java.awt.Font(java.awt.Font.SANS_SERIF, java.awt.Font.PLAIN, 12));
            if (series.isEmpty()) {
                return encode(img);
            }
            double yLo = Math.floor(Math.log10(Math.max(1, minUs)));
            double yHi = Math.ceil(Math.log10(maxUs));
            if (yHi <= yLo) {
                yHi = yLo + 1;
            }
            int pw = w - left - right;
            int ph = h - top - bottom;
            final double fyLo = yLo;
            final double fyHi = yHi;
            java.util.function.DoubleUnaryOperator X = x -> left + x / xMax * pw;
            java.util.function.DoubleUnaryOperator Y = us -> top + ph - (Math.log10(Math.max(us, 1e-3)) - fyLo) / (fyHi - fyLo) * ph;
            String[] labels = {"0%", "90%", "99%", "99.9%", "99.99%"};
            java.awt.FontMetrics fm = g.getFontMetrics();
            for (int i = 0; i <= 4; i++) {
                int x = (int) X.applyAsDouble(i);
                g.setColor(new java.awt.Color(0xdddddd));
                g.drawLine(x, top, x, top + ph);
                g.setColor(java.awt.Color.BLACK);
                g.drawString(labels[i], x - fm.stringWidth(labels[i]) / 2, top + ph + 18);
            }
            int x50 = (int) X.applyAsDouble(Math.log10(2));
            g.setColor(new java.awt.Color(0xeeeeee));
            g.drawLine(x50, top, x50, top + ph);
            g.setColor(new java.awt.Color(0x888888));
            g.drawString("50%", x50 - fm.stringWidth("50%") / 2, top + ph + 18);
            for (double d = yLo; d <= yHi + 1e-9; d++) {
                for (int m = 1; m < 10; m++) {
                    double us = Math.pow(10, d) * m;
                    if (Math.log10(us) > yHi + 1e-9) {
                        break;
                    }
                    int y = (int) Y.applyAsDouble(us);
                    g.setColor(new java.awt.Color(m == 1 ? 0xcccccc : 0xf2f2f2));
                    g.drawLine(left, y, left + pw, y);
                    if (m == 1 || m == 2 || m == 5) {
                        String l = fmtUs(us);
                        g.setColor(java.awt.Color.BLACK);
                        g.drawString(l, left - 6 - fm.stringWidth(l), y + 4);
                    }
                }
            }
            g.setColor(java.awt.Color.BLACK);
            g.drawString("percentile", left + pw / 2 - fm.stringWidth("percentile") / 2, h - 18);
            java.awt.geom.AffineTransform t = g.getTransform();
            g.rotate(-Math.PI / 2, 22, top + ph / 2.0);
            g.drawString("latency (log scale)", 22 - fm.stringWidth("latency (log scale)") / 2, top + ph / 2 + 4);
            g.setTransform(t);
            g.setColor(new java.awt.Color(0x888888));
            g.drawRect(left, top, pw, ph);
            g.setStroke(new java.awt.BasicStroke(2f));
            int i = 0;
            for (Map.Entry<String, Histogram> s : series) {
                java.awt.Color color = java.awt.Color.decode(COLORS[i % COLORS.length]);
                java.awt.geom.Path2D.Double path = new java.awt.geom.Path2D.Double();
                boolean first = true;
                for (double x = 0; x <= xMax + 1e-9; x += 0.05) {
                    double p = 100 * (1 - Math.pow(10, -x));
                    double us = s.getValue().getValueAtPercentile(Math.min(p, 99.99)) / 1e3;
                    if (first) {
                        path.moveTo(X.applyAsDouble(x), Y.applyAsDouble(us));
                        first = false;
                    } else {
                        path.lineTo(X.applyAsDouble(x), Y.applyAsDouble(us));
                    }
                }
                g.setColor(color);
                g.draw(path);
                int ly = top + 10 + i * 36;
                g.setStroke(new java.awt.BasicStroke(3f));
                g.drawLine(left + pw + 12, ly, left + pw + 32, ly);
                g.setStroke(new java.awt.BasicStroke(2f));
                g.setColor(java.awt.Color.BLACK);
                g.drawString(s.getKey(), left + pw + 38, ly + 4);
                Histogram hist = s.getValue();
                g.setColor(new java.awt.Color(0x666666));
                g.setFont(new java.awt.Font(java.awt.Font.SANS_SERIF, java.awt.Font.PLAIN, 10));
                g.drawString(String.format(Locale.ROOT, "p50 %s, p99 %s, p99.9 %s", fmtUs(hist.getValueAtPercentile(50) / 1e3),
                        fmtUs(hist.getValueAtPercentile(99) / 1e3), fmtUs(hist.getValueAtPercentile(99.9) / 1e3)), left + pw + 38, ly + 17);
                g.setFont(new java.awt.Font(java.awt.Font.SANS_SERIF, java.awt.Font.PLAIN, 12));
                i++;
            }
            g.dispose();
            return encode(img);
        } catch (Throwable e) {
            System.out.println("no PNG chart: " + e);
            return null;
        }
    }

    private static byte[] encode(java.awt.image.BufferedImage img) throws java.io.IOException {
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        javax.imageio.ImageIO.write(img, "png", bytes);
        return bytes.toByteArray();
    }

    private static String fmtUs(double us) {
        if (us >= 1000) {
            return String.format(Locale.ROOT, "%.3g ms", us / 1000);
        }
        return String.format(Locale.ROOT, "%.3g µs", us);
    }

    private static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    }
}
