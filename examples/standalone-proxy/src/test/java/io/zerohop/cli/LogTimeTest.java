package io.zerohop.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.text.SimpleDateFormat;
import java.util.Date;
import java.util.Locale;
import java.util.Random;
import java.util.TimeZone;
import org.junit.jupiter.api.Test;
import org.slf4j.simple.SimpleLogger;

class LogTimeTest {
    private static final String PATTERN = "yyyy-MM-dd'T'HH:mm:ss.SSSZ";

    /** Every zone shape: UTC, whole hours with DST, half and three-quarter hours, west of Greenwich, a historic LMT offset. */
    private static final String[] ZONES = {"UTC", "Europe/Berlin", "America/St_Johns", "Asia/Kolkata", "Pacific/Chatham",
        "America/Los_Angeles", "Pacific/Kiritimati", "Europe/Amsterdam"};

    @Test
    void printsWhatSimpleDateFormatPrintedWithTheCliPattern() {
        Random random = new Random(14);
        for (String id : ZONES) {
            TimeZone zone = TimeZone.getTimeZone(id);
            SimpleDateFormat reference = new SimpleDateFormat(PATTERN, Locale.ROOT);
            reference.setTimeZone(zone);
            LogTime time = new LogTime(zone);
            long[] fixed = {0L, -1L, 999L, 1_000L, 1_764_610_202_651L, 253_402_300_799_999L, -2_208_988_800_000L,
                // 1937 in Amsterdam: +00:19:32 (seconds in the offset, which 'Z' drops)
                -1_041_379_200_000L};
            for (long ms : fixed) {
                assertEquals(reference.format(new Date(ms)), time.format(new Date(ms)), id + " " + ms);
            }
            for (int i = 0; i < 2_000; i++) {
                // 1900 .. 2100
                long ms = -2_208_988_800_000L + (long) (random.nextDouble() * 6_311_433_600_000L);
                assertEquals(reference.format(new Date(ms)), time.format(new Date(ms)), id + " " + ms);
            }
        }
    }

    @Test
    void theCliExampleLine() {
        assertEquals("2026-12-01T17:30:02.651+0000", new LogTime(TimeZone.getTimeZone("UTC")).format(new Date(1796146202651L)));
    }

    @Test
    void installsIntoSlf4jSimpleOnlyWhenItHasNoFormatOfItsOwn() throws Exception {
        org.slf4j.LoggerFactory.getLogger(LogTimeTest.class);
        var config = SimpleLogger.class.getDeclaredField("CONFIG_PARAMS");
        config.setAccessible(true);
        Object params = config.get(null);
        var formatter = params.getClass().getDeclaredField("dateFormatter");
        formatter.setAccessible(true);
        Object before = formatter.get(params);
        try {
            // The CLI's simplelogger.properties names no dateTimeFormat (this module's test class path has it).
            formatter.set(params, null);
            assertTrue(LogTime.install());
            assertTrue(formatter.get(params) instanceof LogTime);
            SimpleDateFormat own = new SimpleDateFormat("HH:mm");
            formatter.set(params, own);
            assertFalse(LogTime.install());
            assertEquals(own, formatter.get(params));
        } finally {
            formatter.set(params, before);
        }
    }
}
