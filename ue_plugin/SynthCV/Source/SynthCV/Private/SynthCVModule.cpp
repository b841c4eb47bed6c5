// SynthCV: UnrealCV commands for synth (see ue_plugin/README.md).
#include "SynthCVModule.h"

#include <type_traits>
#include <utility>

#include "Misc/CommandLine.h"
#include "Modules/ModuleManager.h"
#include "Server/CommandDispatcher.h"
#include "Server/UnrealcvServer.h"
#include "SynthCommands.h"

DEFINE_LOG_CATEGORY_STATIC(LogSynthCV, Log, All);

namespace
{
	// UnrealCV 5.2 has no version macro and no UE5 release tag. Since commit ab0dff0 (2026-03-04) the dispatcher is
	// reached through FUnrealcvServer::GetCommandDispatcher(); older checkouts (e.g. af71da2) expose the public member
	// CommandDispatcher instead. Detect the getter at compile time so that both build.
	template <typename T, typename = void>
	struct THasDispatcherGetter : std::false_type
	{
	};
	template <typename T>
	struct THasDispatcherGetter<T, std::void_t<decltype(std::declval<const T&>().GetCommandDispatcher())>>
		: std::true_type
	{
	};

	template <typename TServer>
	TSharedPtr<FCommandDispatcher> DispatcherOf(TServer& Server)
	{
		if constexpr (THasDispatcherGetter<TServer>::value)
		{
			return Server.GetCommandDispatcher();
		}
		else
		{
			return Server.CommandDispatcher;
		}
	}
}

void FSynthCVModule::StartupModule()
{
	// UnrealCV does not start in commandlets (cooking) or on dedicated servers; neither do we.
	if (IsRunningCommandlet() || IsRunningDedicatedServer())
	{
		return;
	}
	Commands = MakeShared<FSynthCommands>();
	TSharedPtr<FCommandDispatcher> Dispatcher = DispatcherOf(FUnrealcvServer::Get());
	if (!Dispatcher.IsValid())
	{
		UE_LOG(LogSynthCV, Error, TEXT("UnrealCV's command dispatcher is missing; is the UnrealCV plugin enabled?"));
		return;
	}
	Commands->Register(*Dispatcher);
	UE_LOG(LogSynthCV, Display, TEXT("SynthCV commands registered with UnrealCV"));
}

void FSynthCVModule::ShutdownModule()
{
	// The dispatcher's delegates hold shared references to Commands; they go with UnrealCV's server.
	if (Commands.IsValid())
	{
		Commands->Unregister();
	}
	Commands.Reset();
}

IMPLEMENT_MODULE(FSynthCVModule, SynthCV)
