package io.zerohop.policy.internal;

import java.util.ArrayList;
import java.util.List;

/**
 * The limits Go's {@code regexp/syntax} parser puts on a regular expression, which Cilium's HTTP rules meet in
 * {@code regexp.Compile} (cilium/cilium pkg/policy/api/http.go {@code PortRuleHTTP.Sanitize}), and RE2J (a port of an
 * older Go parser) does not: nested counted repetitions whose counts multiply past 1000 ({@code repeatIsValid}, "invalid
 * repeat count"), a program of more than {@code 128 MiB / 40} instructions ({@code checkSize}/{@code calcSize}, "expression
 * too large") and a parse tree more than 1000 deep ({@code checkHeight}, "expression nests too deeply"), all in
 * go/src/regexp/syntax/parse.go. Cilium refuses a policy with such a regex; RE2J compiled
 * {@code (((a{100}){100}){100}){10}} into ten million instructions and ran out of heap (the node proxy's 128 MB ended).
 *
 * <p>Checked on the pattern's text before RE2J sees it, by a scan that builds no tree: a pattern it cannot read (a syntax
 * error) passes, for RE2J to refuse with its own message. The scan follows how Go's parser shapes the tree that it
 * measures: a run of literals is one node ({@code maybeConcat}), a non-capturing group's concatenation joins the one
 * around it and an alternation the alternation around it ({@code collapse}), so nested {@code (?:...)} groups add no level;
 * {@code x{0,}} walks on in {@code repeatIsValid} (only a maximum of 0 ends it); a count with a leading zero
 * ({@code {02}}) is literal text ({@code parseInt}). Where Go's parser shrinks the tree further (it factors common
 * prefixes out of alternations and turns one-character alternatives into a class), the size and height here are Go's
 * before that step, so such a pattern near the limits may be refused here and taken by Cilium (stricter, never wider).
 * Go's bound on the runes of character classes ({@code maxRunes}, 32 million) is not followed. Until 6 December's review
 * (helper 296) {@code ((a{1000}){0,}){2}} loaded, and {@code (a{1000}){02}} and 1200 nested {@code (?:a...b)} groups,
 * which Go takes, were refused ({@code CiliumRegexLimitsConformanceTest}).
 */
final class GoRegexLimits {

    /** go/src/regexp/syntax/parse.go {@code maxSize}: 128 MiB of 40-byte instructions. */
    static final long MAX_SIZE = (128L << 20) / 40;
    /** {@code maxHeight}. */
    static final int MAX_HEIGHT = 1000;
    /** {@code repeatIsValid(re, 1000)}. */
    static final long MAX_REPEAT = 1000;

    private GoRegexLimits() {
    }

    /** A node of another kind than the two below (a literal, class, repetition, capture, empty match). */
    private static final int OTHER = 0;
    /** Go's OpConcat: {@code collapse} hoists its items into a concatenation around it. */
    private static final int CONCAT = 1;
    /** Go's OpAlternate: {@code collapse} hoists its alternatives into an alternation around it. */
    private static final int ALTERNATE = 2;

    /**
     * One parsed item (a node of Go's tree): its compiled size, height and largest product of counted repeats; whether it
     * is a literal (a run of them is one node, {@code maybeConcat}); its kind, and for a concatenation or alternation the
     * height of its tallest item and how many items it has (what a concatenation or alternation around it takes over when
     * Go's {@code collapse} hoists them: "there is never a concat of a concat or an alternate of an alternate").
     */
    private record Node(long size, int height, long repeat, boolean literal, int kind, int childHeight, int parts) {
        Node(long size, int height, long repeat, boolean literal) {
            this(size, height, repeat, literal, OTHER, 0, 0);
        }
    }

    private static final Node CLASS = new Node(1, 1, 1, false);
    private static final Node LITERAL = new Node(1, 1, 1, true);
    private static final Node EMPTY = new Node(1, 1, 1, false);

    /**
     * A group being parsed: its finished alternatives folded, and the alternative being read folded but for its last
     * item, which a repetition may still replace. Constant work per item: no tree is built.
     */
    private static final class Frame {
        final boolean capture;
        /** A group that sets flags ({@code (?i:...)}): its literals may fold case, so they join no literal outside it. */
        final boolean flags;
        long altSize;
        int altHeight;
        long altRepeat = 1;
        int alts;
        /** The one alternative's node while {@link #alts} is 1 and it was not hoisted. */
        Node onlyAlt;
        long size;
        int height;
        long repeat = 1;
        int nodes;
        /** The item that started the alternative's one node (what it is while {@link #nodes} is 1). */
        Node single;
        boolean previousLiteral;
        Node last;

        Frame(boolean capture, boolean flags) {
            this.capture = capture;
            this.flags = flags;
        }

        void add(Node node) {
            fold();
            last = node;
        }

        /** {@code (?i)} alone: the literals after it may fold case, so they join none before it. */
        void flagChange() {
            fold();
            previousLiteral = false;
        }

        private void fold() {
            if (last != null) {
                size += last.size;
                repeat = Math.max(repeat, last.repeat);
                if (last.kind == CONCAT) {
                    // collapse: a concatenation's items become this one's, no level of its own.
                    height = Math.max(height, last.childHeight);
                    nodes += last.parts;
                    previousLiteral = false;
                } else {
                    height = Math.max(height, last.height);
                    // A run of plain literals is one OpLiteral node in Go's tree (maybeConcat).
                    if (!(last.literal && previousLiteral)) {
                        nodes++;
                        single = last;
                    }
                    previousLiteral = last.literal;
                }
                last = null;
            }
        }

        /** Go's OpConcat of the alternative read (sizes add, one level more), a lone item itself, none OpEmptyMatch. */
        Node concat() {
            fold();
            Node c = nodes == 0 ? EMPTY
                    : nodes == 1 ? new Node(Math.max(1, size), height, repeat, single.literal, single.kind, single.childHeight, single.parts)
                    : new Node(Math.max(1, size), height + 1, repeat, false, CONCAT, height, nodes);
            size = 0;
            height = 0;
            repeat = 1;
            nodes = 0;
            single = null;
            previousLiteral = false;
            return c;
        }

        void bar() {
            Node c = concat();
            altRepeat = Math.max(altRepeat, c.repeat);
            if (c.kind == ALTERNATE) {
                // collapse: an alternation's alternatives become this one's (its bars counted again in close()).
                altSize += c.size - (c.parts - 1);
                altHeight = Math.max(altHeight, c.childHeight);
                alts += c.parts;
                onlyAlt = null;
            } else {
                altSize += c.size;
                altHeight = Math.max(altHeight, c.height);
                onlyAlt = alts == 0 ? c : null;
                alts++;
            }
        }

        /** Go's OpAlternate of the alternatives (sizes add, plus one per bar), or the one alternative; captured. */
        Node close() {
            bar();
            Node g = alts == 1 ? onlyAlt : new Node(altSize + alts - 1, altHeight + 1, altRepeat, false, ALTERNATE, altHeight, alts);
            if (capture) {
                return new Node(2 + g.size, g.height + 1, g.repeat, false);
            }
            return flags && g.literal ? new Node(g.size, g.height, g.repeat, false, g.kind, g.childHeight, g.parts) : g;
        }
    }

    /** Go's error text for the first limit {@code pattern} exceeds, or null when it is within them or unreadable here. */
    static String exceeded(String pattern) {
        try {
            return scan(pattern);
        } catch (RuntimeException unreadable) {
            return null; // a syntax error: RE2J names it
        }
    }

    private static String over(Node node) {
        return node.size > MAX_SIZE ? "expression too large" : node.height > MAX_HEIGHT ? "expression nests too deeply" : null;
    }

    private static String scan(String s) {
        List<Frame> stack = new ArrayList<>();
        stack.add(new Frame(false, false));
        int captures = 0;
        int i = 0;
        int n = s.length();
        while (i < n) {
            Frame f = stack.get(stack.size() - 1);
            char c = s.charAt(i);
            switch (c) {
                case '(' -> {
                    if (s.startsWith("(?", i) && !s.startsWith("(?P<", i) && !s.startsWith("(?<", i)) {
                        int close = i + 2;
                        while (close < n && s.charAt(close) != ')' && s.charAt(close) != ':') {
                            close++;
                        }
                        if (close >= n) {
                            return null;
                        }
                        boolean flags = close > i + 2;
                        i = close + 1;
                        if (s.charAt(close) == ':') {
                            stack.add(new Frame(false, flags));
                        } else {
                            f.flagChange(); // (?flags) alone: no node
                        }
                    } else {
                        if (s.startsWith("(?", i)) {
                            i = s.indexOf('>', i);
                            if (i < 0) {
                                return null;
                            }
                        }
                        i++;
                        stack.add(new Frame(true, false));
                        if (++captures > MAX_HEIGHT) {
                            return "expression nests too deeply"; // each capture is a level of its own
                        }
                    }
                }
                case '|' -> {
                    f.bar();
                    i++;
                }
                case ')' -> {
                    if (stack.size() == 1) {
                        return null;
                    }
                    stack.remove(stack.size() - 1);
                    if (f.capture) {
                        captures--;
                    }
                    Node g = f.close();
                    String over = over(g);
                    if (over != null) {
                        return over;
                    }
                    stack.get(stack.size() - 1).add(g);
                    i++;
                }
                case '*', '+', '?' -> {
                    Node sub = f.last;
                    if (sub == null) {
                        return null;
                    }
                    f.last = new Node((c == '*' ? 2 : 1) + sub.size, sub.height + 1, sub.repeat, false);
                    String over = over(f.last);
                    if (over != null) {
                        return over;
                    }
                    i = skipLazy(s, i + 1);
                }
                case '{' -> {
                    int[] rep = counted(s, i);
                    if (rep == null) {
                        f.add(LITERAL);
                        i++;
                        break;
                    }
                    Node sub = f.last;
                    if (sub == null) {
                        return null;
                    }
                    int min = rep[0];
                    int max = rep[1];
                    long size = max == -1 ? (min == 0 ? 2 + sub.size : 1 + min * sub.size) : max * sub.size + (max - min);
                    long m = max == -1 ? min : max;
                    // repeatIsValid: m is Max, Min for an unbounded one; Max 0 (x{0}, x{0,0}) ends the walk, while
                    // x{0,} (m = Min = 0) divides nothing and walks on, its copies inside still counted; star, plus and
                    // quest are no OpRepeat.
                    long repeat = max == 0 ? 1 : m == 0 ? sub.repeat : m * sub.repeat;
                    if (repeat > MAX_REPEAT && (min >= 2 || max >= 2)) {
                        return "invalid repeat count";
                    }
                    f.last = new Node(size, sub.height + 1, repeat, false);
                    String over = over(f.last);
                    if (over != null) {
                        return over;
                    }
                    i = skipLazy(s, rep[2]);
                }
                case '[' -> {
                    i = classEnd(s, i);
                    if (i < 0) {
                        return null;
                    }
                    f.add(CLASS);
                }
                case '\\' -> {
                    if (i + 1 >= n) {
                        return null;
                    }
                    char e = s.charAt(i + 1);
                    if (e == 'Q') {
                        int end = s.indexOf("\\E", i + 2);
                        int stop = end < 0 ? n : end;
                        for (int k = i + 2; k < stop; k++) {
                            f.add(LITERAL);
                        }
                        i = end < 0 ? n : end + 2;
                    } else if (e == 'p' || e == 'P' || e == 'x') {
                        int j = i + 2;
                        if (j < n && s.charAt(j) == '{') {
                            j = s.indexOf('}', j);
                            if (j < 0) {
                                return null;
                            }
                            j++;
                        } else {
                            j += e == 'x' ? 2 : 1;
                        }
                        f.add(e == 'x' ? LITERAL : CLASS);
                        i = Math.min(j, n);
                    } else if ("dDsSwWbBAz".indexOf(e) >= 0) {
                        f.add(CLASS);
                        i += 2;
                    } else if (e == '0') {
                        int j = i + 2;
                        while (j < n && j < i + 4 && s.charAt(j) >= '0' && s.charAt(j) <= '7') {
                            j++;
                        }
                        f.add(LITERAL);
                        i = j;
                    } else {
                        f.add(LITERAL);
                        i += 2;
                    }
                }
                case '.', '^', '$' -> {
                    f.add(CLASS);
                    i++;
                }
                default -> {
                    f.add(LITERAL);
                    i += Character.isHighSurrogate(c) && i + 1 < n ? 2 : 1;
                }
            }
        }
        if (stack.size() != 1) {
            return null;
        }
        return over(stack.get(0).close());
    }

    /** After a repetition operator: past its {@code ?} (non-greedy), if any. */
    private static int skipLazy(String s, int i) {
        return i < s.length() && s.charAt(i) == '?' ? i + 1 : i;
    }

    /**
     * {@code {n}}, {@code {n,}} or {@code {n,m}} at {@code i}: {min, max (-1 unbounded), index after it}, or null when
     * the brace is a literal (Go's {@code parseRepeat} fails and the brace is read as itself).
     */
    private static int[] counted(String s, int i) {
        int j = i + 1;
        int n = s.length();
        int start = j;
        while (j < n && Character.isDigit(s.charAt(j)) && s.charAt(j) < 128) {
            j++;
        }
        // parseInt: "Disallow leading zeros" ({02} is the text "{02}", no repetition).
        if (j == start || j - start > 4 || leadingZero(s, start, j)) {
            return null;
        }
        int min = Integer.parseInt(s.substring(start, j));
        int max = min;
        if (j < n && s.charAt(j) == ',') {
            j++;
            int from = j;
            while (j < n && Character.isDigit(s.charAt(j)) && s.charAt(j) < 128) {
                j++;
            }
            if (j - from > 4 || leadingZero(s, from, j)) {
                return null;
            }
            max = j == from ? -1 : Integer.parseInt(s.substring(from, j));
        }
        if (j >= n || s.charAt(j) != '}') {
            return null;
        }
        return new int[] {min, max, j + 1};
    }

    /** Go's parseInt refuses a number of two digits or more starting with 0: the brace is then a literal. */
    private static boolean leadingZero(String s, int from, int to) {
        return to - from >= 2 && s.charAt(from) == '0';
    }

    /** The index after the class starting at {@code i} ({@code [...]}), or -1 when it does not end. */
    private static int classEnd(String s, int i) {
        int j = i + 1;
        int n = s.length();
        if (j < n && s.charAt(j) == '^') {
            j++;
        }
        if (j < n && s.charAt(j) == ']') {
            j++; // a leading ] is itself
        }
        while (j < n) {
            char c = s.charAt(j);
            if (c == ']') {
                return j + 1;
            }
            if (c == '[' && s.startsWith("[:", j)) {
                int end = s.indexOf(":]", j + 2);
                j = end < 0 ? j + 1 : end + 2;
            } else if (c == '\\' && j + 1 < n) {
                char e = s.charAt(j + 1);
                if ((e == 'p' || e == 'P' || e == 'x') && j + 2 < n && s.charAt(j + 2) == '{') {
                    int end = s.indexOf('}', j + 2);
                    j = end < 0 ? n : end + 1;
                } else {
                    j += 2;
                }
            } else {
                j++;
            }
        }
        return -1;
    }
}
