package io.zerohop.cli;

import java.text.DateFormat;
import java.text.FieldPosition;
import java.text.ParsePosition;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.Date;
import java.util.TimeZone;
import org.slf4j.simple.SimpleLogger;

/**
 * The CLI's log timestamp, {@code yyyy-MM-dd'T'HH:mm:ss.SSSZ} in the default time zone (e.g.
 * {@code 2026-12-01T17:30:02.651+0000}), written with arithmetic instead of
 * {@link java.text.SimpleDateFormat}: its calendar and locale data (~300 classes and ~1 MB of heap
 * that a node proxy keeps for its whole life) are what slf4j-simple's {@code dateTimeFormat} cost
 * (benchmarks/results/idle-*.md). Prints what {@code SimpleDateFormat} printed with that pattern in an
 * ASCII-digit locale with the Gregorian calendar; the zone is the default one when this is built,
 * as {@code SimpleDateFormat} takes it. Formatting only: {@link #parse} throws.
 */
final class LogTime extends DateFormat {
    private static final long serialVersionUID = 1L;
    private final TimeZone zone;

    LogTime(TimeZone zone) {
        this.zone = zone;
    }

    /**
     * Gives slf4j-simple this clock when it was configured to show the time but with no
     * {@code dateTimeFormat} (the CLI's {@code simplelogger.properties}); a format named with
     * {@code -Dorg.slf4j.simpleLogger.dateTimeFormat} keeps its {@code SimpleDateFormat}. Returns
     * whether it was installed; false also when this slf4j-simple has other internals (it then prints
     * milliseconds since start, its own default).
     */
    static boolean install() {
        try {
            java.lang.reflect.Field config = SimpleLogger.class.getDeclaredField("CONFIG_PARAMS");
            config.setAccessible(true);
            Object params = config.get(null);
            java.lang.reflect.Field formatter = params.getClass().getDeclaredField("dateFormatter");
            formatter.setAccessible(true);
            synchronized (params) {
                if (formatter.get(params) != null) {
                    return false;
                }
                formatter.set(params, new LogTime(TimeZone.getDefault()));
                return true;
            }
        } catch (ReflectiveOperationException | RuntimeException e) {
            return false;
        }
    }

    @Override
    public StringBuffer format(Date date, StringBuffer to, FieldPosition pos) {
        long ms = date.getTime();
        int offset = zone.getOffset(ms);
        long local = ms + offset;
        LocalDateTime t = LocalDateTime.ofEpochSecond(Math.floorDiv(local, 1000), 0, ZoneOffset.UTC);
        pad(to, t.getYear(), 4).append('-');
        pad(to, t.getMonthValue(), 2).append('-');
        pad(to, t.getDayOfMonth(), 2).append('T');
        pad(to, t.getHour(), 2).append(':');
        pad(to, t.getMinute(), 2).append(':');
        pad(to, t.getSecond(), 2).append('.');
        pad(to, (int) Math.floorMod(local, 1000L), 3);
        // SimpleDateFormat's 'Z': sign, then hours and minutes of the offset (seconds dropped).
        int minutes = offset / 60_000;
        to.append(minutes < 0 ? '-' : '+');
        minutes = Math.abs(minutes);
        return pad(to, minutes / 60 * 100 + minutes % 60, 4);
    }

    private static StringBuffer pad(StringBuffer to, int v, int width) {
        String s = Integer.toString(v);
        for (int i = s.length(); i < width; i++) {
            to.append('0');
        }
        return to.append(s);
    }

    @Override
    public Date parse(String source, ParsePosition pos) {
        throw new UnsupportedOperationException("LogTime only formats");
    }

    // DateFormat's own compare its calendar and number format, which this one does not have.
    @Override
    public boolean equals(Object o) {
        return this == o;
    }

    @Override
    public int hashCode() {
        return System.identityHashCode(this);
    }
}
