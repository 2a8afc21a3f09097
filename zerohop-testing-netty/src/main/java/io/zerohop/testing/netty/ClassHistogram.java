package io.zerohop.testing.netty;

import java.util.Map;
import java.util.TreeMap;

/**
 * The JVM's own class histogram of live objects (the {@code GC.class_histogram} diagnostic command,
 * which runs a full GC first), for footprint tests: what N idle tunnels hold is the difference of
 * two histograms divided by N. Lambdas are counted per defining class ({@code Foo$$Lambda}), since
 * their generated names differ from run to run.
 */
public final class ClassHistogram {
    /** Live instances and their shallow bytes, by class name. */
    public record Row(long instances, long bytes) {}

    private final Map<String, Row> rows;

    private ClassHistogram(Map<String, Row> rows) {
        this.rows = rows;
    }

    /** Takes the histogram now (a full GC). */
    public static ClassHistogram take() throws Exception {
        // By reflection: a module that does not read java.management can still call this (the
        // tests run on the class path, where it is there).
        Object mbeans = Class.forName("java.lang.management.ManagementFactory").getMethod("getPlatformMBeanServer").invoke(null);
        Class<?> objectName = Class.forName("javax.management.ObjectName");
        Object command = objectName.getConstructor(String.class).newInstance("com.sun.management:type=DiagnosticCommand");
        String text = (String) Class.forName("javax.management.MBeanServerConnection")
                .getMethod("invoke", objectName, String.class, Object[].class, String[].class)
                .invoke(mbeans, command, "gcClassHistogram", new Object[] {new String[0]}, new String[] {String[].class.getName()});
        Map<String, Row> rows = new TreeMap<>();
        for (String line : text.split("\n")) {
            String[] f = line.trim().split("\\s+");
            if (f.length >= 4 && f[0].endsWith(":")) {
                String name = f[3];
                int lambda = name.indexOf("$$Lambda");
                rows.merge(lambda > 0 ? name.substring(0, lambda + 8) : name, new Row(Long.parseLong(f[1]), Long.parseLong(f[2])),
                        (a, b) -> new Row(a.instances + b.instances, a.bytes + b.bytes));
            }
        }
        return new ClassHistogram(rows);
    }

    /**
     * The histogram to compare a later {@link #take} with: taken while another histogram is alive, as
     * the later one is taken while this one is, so that the histograms' own objects cancel out.
     */
    public static ClassHistogram baseline() throws Exception {
        ClassHistogram first = take();
        ClassHistogram second = take();
        java.lang.ref.Reference.reachabilityFence(first);
        return second;
    }

    /** Instances per class, as {@link #take} counted them. */
    public Map<String, Long> instances() {
        Map<String, Long> out = new TreeMap<>();
        rows.forEach((k, v) -> out.put(k, v.instances()));
        return out;
    }

    /** What one thing holds of a class: instances and shallow bytes, averaged over the things measured. */
    public record Share(double instances, double bytes) {}

    /**
     * What {@code n} things added between {@code before} (a {@link #baseline}) and this histogram, per thing: instances
     * and bytes per class, for the classes that gained at least half an instance per thing.
     */
    public Map<String, Share> perThing(ClassHistogram before, int n) {
        Map<String, Share> out = new TreeMap<>();
        rows.forEach((k, v) -> {
            Row b = before.rows.getOrDefault(k, new Row(0, 0));
            double di = (v.instances - b.instances) / (double) n;
            if (di >= 0.5) {
                out.put(k, new Share(di, (v.bytes - b.bytes) / (double) n));
            }
        });
        return out;
    }

    /** {@link #perThing}'s rows as text, one class a line (instances, bytes per thing), largest bytes first. */
    public static String table(Map<String, Share> perThing) {
        StringBuilder sb = new StringBuilder();
        perThing.entrySet().stream().sorted((a, b) -> Double.compare(b.getValue().bytes(), a.getValue().bytes()))
                .forEach(e -> sb.append(String.format("%8.2f %8.1f  %s%n", e.getValue().instances(), e.getValue().bytes(), e.getKey())));
        return sb.toString();
    }
}
