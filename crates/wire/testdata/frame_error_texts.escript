#!/usr/bin/env escript
%% Prints RabbitMQ frame-error texts (rabbit_reader:frame_error/5 format) as test vectors:
%% kind, payload hex, reason, text (\\ and newline escaped; Latin-1 output).
%% Usage: escript frame_error_texts.escript COUNT | iconv -f latin1 -t utf-8
main([NStr]) ->
    rand:seed(exsss, {1, 2, 3}),
    N = list_to_integer(NStr),
    Kinds = [1, 2, 3, 8, 9, 42, 255],
    lists:foreach(fun(_) ->
        Kind = pick(Kinds),
        Len = rand:uniform(22) - 1,
        Payload = payload(Len),
        Reason = case rand:uniform(3) of
                     1 -> unknown_frame;
                     2 -> {invalid_frame_end_marker, pick([0, 7, 42, 205, 255])};
                     3 -> {frame_too_large, num(), num()}
                 end,
        {Str, Bin} = case Payload of
                         <<S:16/binary, _/binary>> when byte_size(Payload) > 16 -> {"first 16", S};
                         _ -> {"all", Payload}
                     end,
        Text = lists:flatten(io_lib:format("type ~p, ~s octets = ~p: ~p", [Kind, Str, Bin, Reason])),
        io:format("~w\t~s\t~s\t~s~n", [Kind, hex(Payload), lists:flatten(io_lib:format("~w", [Reason])), esc(Text)])
    end, lists:seq(1, N)).

pick(L) -> lists:nth(rand:uniform(length(L)), L).
num() -> pick([0, 9, 131072, 4096, 4294967295, 123456789, rand:uniform(1 bsl 32) - 1]).
payload(Len) ->
    Class = rand:uniform(6),
    list_to_binary([byte(Class) || _ <- lists:seq(1, Len)]).
byte(1) -> rand:uniform(10) - 1;
byte(2) -> 99 + rand:uniform(156);
byte(3) -> pick([$a, $b, $", $\\, $\n, $\t, $z, $~, $\s, 200, 255]);
byte(4) -> 31 + rand:uniform(96);
byte(5) -> rand:uniform(256) - 1;
byte(6) -> pick([0, 1, 60, 10, 206, 255]).
hex(B) -> [io_lib:format("~2.16.0b", [X]) || <<X>> <= B].
esc(T) -> lists:flatmap(fun($\\) -> "\\\\"; ($\n) -> "\\n"; (C) -> [C] end, T).
