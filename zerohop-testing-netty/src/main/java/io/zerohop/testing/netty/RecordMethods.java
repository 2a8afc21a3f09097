package io.zerohop.testing.netty;

import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.RecordComponent;
import java.net.InetSocketAddress;
import java.util.Arrays;
import java.util.function.UnaryOperator;

/**
 * Checks a record whose {@code equals} and {@code hashCode} are written out (to keep the JDK's
 * {@code ObjectMethods} bootstrap, ~160 hidden classes, off a path): they must mean what the
 * generated ones mean, equal exactly when every component is equal, so a component added later and
 * left out of them fails the check.
 */
public final class RecordMethods {
    private RecordMethods() {
    }

    /**
     * Asserts that a copy of {@code sample} with equal components is equal with the same hash code,
     * and that changing any one component (through {@code differ}, then {@link #differ(Object)})
     * makes it unequal.
     *
     * @param sample a record with every component non-null
     * @param differ another value for a component value, or null to use {@link #differ(Object)}
     * @throws AssertionError naming the component that is not compared
     */
    public static <R extends Record> void assertComponentWise(R sample, UnaryOperator<Object> differ) throws ReflectiveOperationException {
        RecordComponent[] components = sample.getClass().getRecordComponents();
        Object[] values = new Object[components.length];
        Class<?>[] types = new Class<?>[components.length];
        for (int i = 0; i < components.length; i++) {
            components[i].getAccessor().setAccessible(true);
            values[i] = components[i].getAccessor().invoke(sample);
            types[i] = components[i].getType();
        }
        Constructor<?> canonical = sample.getClass().getDeclaredConstructor(types);
        canonical.setAccessible(true);
        Object copy = newInstance(canonical, values);
        check(sample.equals(copy) && copy.equals(sample), sample.getClass().getSimpleName() + ": a copy with equal components is not equal");
        check(sample.hashCode() == copy.hashCode(), sample.getClass().getSimpleName() + ": equal records with different hash codes");
        check(!sample.equals(null) && !sample.equals(new Object()), sample.getClass().getSimpleName() + ": equal to null or to another type");
        for (int i = 0; i < components.length; i++) {
            Object[] changed = Arrays.copyOf(values, values.length);
            Object other = differ == null ? null : differ.apply(values[i]);
            changed[i] = other != null ? other : differ(values[i]);
            Object o = newInstance(canonical, changed);
            check(!sample.equals(o) && !o.equals(sample),
                    sample.getClass().getSimpleName() + "." + components[i].getName() + " is not compared by equals");
        }
    }

    /**
     * Asserts that {@code type}'s class file does not name {@code java.lang.runtime.ObjectMethods}, the bootstrap of a
     * record's generated {@code equals}, {@code hashCode} and {@code toString}: all three are written out, so none of
     * them can load its ~50-160 hidden classes. (javac puts the bootstrap's owner in the constant pool as soon as one
     * of the three is generated.)
     *
     * @throws AssertionError when one of the three is still generated
     */
    public static void assertNoObjectMethods(Class<? extends Record> type) throws java.io.IOException {
        String file = type.getName().substring(type.getName().lastIndexOf('.') + 1) + ".class";
        byte[] bytes;
        try (java.io.InputStream in = type.getResourceAsStream(file)) {
            check(in != null, "no class file " + file);
            bytes = in.readAllBytes();
        }
        byte[] owner = "java/lang/runtime/ObjectMethods".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        for (int i = 0; i + owner.length <= bytes.length; i++) {
            check(!Arrays.equals(bytes, i, i + owner.length, owner, 0, owner.length),
                    type.getSimpleName() + " still has a generated equals, hashCode or toString (its class file names ObjectMethods)");
        }
    }

    /** Another value of the same type: a string with a suffix, the next enum constant, an address's next port. */
    public static Object differ(Object value) {
        if (value instanceof String s) {
            return s + "~";
        }
        if (value instanceof Enum<?> e) {
            Object[] all = e.getDeclaringClass().getEnumConstants();
            return all[(e.ordinal() + 1) % all.length];
        }
        if (value instanceof InetSocketAddress a) {
            return new InetSocketAddress(a.getAddress(), a.getPort() + 1);
        }
        throw new IllegalArgumentException("no other value known for " + value.getClass().getName() + ": pass a differ");
    }

    private static Object newInstance(Constructor<?> c, Object[] args) throws ReflectiveOperationException {
        try {
            return c.newInstance(args);
        } catch (InvocationTargetException e) {
            throw new IllegalStateException("the canonical constructor refused " + Arrays.toString(args), e.getCause());
        }
    }

    private static void check(boolean ok, String message) {
        if (!ok) {
            throw new AssertionError(message);
        }
    }
}
