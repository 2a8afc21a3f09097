package io.zerohop.core.internal;

import io.zerohop.testing.netty.RecordMethods;
import java.util.Collections;
import org.junit.jupiter.api.Test;

/** The metric labels and the baggage compare every component, as the records' generated methods would. */
class RecordMethodsTest {
    @Test
    void trafficLabelsCompareEveryComponent() throws Exception {
        String[] v = new String[TrafficLabels.class.getRecordComponents().length];
        for (int i = 0; i < v.length; i++) {
            v[i] = "v" + i;
        }
        var ctor = TrafficLabels.class.getDeclaredConstructor(Collections.nCopies(v.length, String.class).toArray(Class<?>[]::new));
        RecordMethods.assertComponentWise(ctor.newInstance((Object[]) v), null);
    }

    @Test
    void baggageComparesEveryComponent() throws Exception {
        RecordMethods.assertComponentWise(new Baggage("c", "ns", "w", "s", "r", "region", "zone"), null);
    }
}
